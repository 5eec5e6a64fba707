"""What the member-cap, quota-preview and usage-overview API reads and writes (strict input)."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from portal.api import StrictSerializerMixin

from .serializers import QuotaUpdateSerializer, UsageSerializer


class MemberCapSerializer(serializers.Serializer):
    """One member's cap inside the project's quota; null values: no cap of that kind."""

    username = serializers.CharField(help_text=_("The member."))
    role = serializers.CharField(help_text=_("The member's role in the project."))
    max_gpus = serializers.IntegerField(
        allow_null=True, help_text=_("Most GPUs the member's jobs hold at once.")
    )
    max_running_jobs = serializers.IntegerField(
        allow_null=True, help_text=_("Most jobs of the member running at once.")
    )


class MemberCapUpdateSerializer(StrictSerializerMixin, serializers.Serializer):
    max_gpus = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, help_text=_("Most GPUs at once; null: no cap.")
    )
    max_running_jobs = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, help_text=_("Most running jobs at once; null: no cap.")
    )


MAX_MINUTES = 10 * 366 * 24 * 60  # ten years: beyond any quota, and the costs stay in 14 digits


class PreviewQuerySerializer(StrictSerializerMixin, serializers.Serializer):
    """The resources of a job to preview (query parameters)."""

    cpu = serializers.DecimalField(max_digits=7, decimal_places=3, min_value=0, help_text=_("CPU cores."))
    memory_mib = serializers.IntegerField(min_value=0, max_value=2**31, help_text=_("Memory in MiB."))
    gpus = serializers.IntegerField(min_value=0, max_value=10_000, default=0, help_text=_("GPUs."))
    time_limit_minutes = serializers.IntegerField(
        min_value=1, max_value=MAX_MINUTES, help_text=_("Time limit in minutes.")
    )


class PreviewSerializer(serializers.Serializer):
    """What a job of these resources would do now, and what it would cost of the budget."""

    outcome = serializers.ChoiceField(
        choices=["starts", "waits", "rejected"],
        help_text=_("starts: it would start now; waits: it would wait for quota; rejected: it does not fit."),
    )
    reason = serializers.CharField(help_text=_("Why it would wait; empty otherwise."))
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text=_("Why it would be rejected, by field."),
    )
    gpu_hours = serializers.DecimalField(
        max_digits=14, decimal_places=2, help_text=_("GPU-hours it may use at most.")
    )
    cpu_hours = serializers.DecimalField(
        max_digits=14, decimal_places=2, help_text=_("CPU-hours it may use at most.")
    )
    period = serializers.CharField(help_text=_("The quota's current period."))
    gpu_hours_remaining = serializers.DecimalField(
        max_digits=14, decimal_places=2, help_text=_("GPU-hours left in the period before this job.")
    )
    cpu_hours_remaining = serializers.DecimalField(
        max_digits=14, decimal_places=2, help_text=_("CPU-hours left in the period before this job.")
    )


class ProjectOverviewSerializer(serializers.Serializer):
    """One project's use in the period against its budget."""

    project = serializers.CharField(help_text=_("Slug of the project."))
    name = serializers.CharField(help_text=_("Full name of the project."))
    status = serializers.CharField(help_text=_("Status of the project."))
    usage = UsageSerializer(help_text=_("What its jobs used in the period."))
    gpu_hours_per_period = serializers.DecimalField(
        max_digits=14, decimal_places=2, allow_null=True, help_text=_("Its GPU-hour budget per period.")
    )
    cpu_hours_per_period = serializers.DecimalField(
        max_digits=14, decimal_places=2, allow_null=True, help_text=_("Its CPU-hour budget per period.")
    )
    quota_period = serializers.CharField(allow_null=True, help_text=_("The length of its quota's period."))


class ApprovalQuotaSerializer(QuotaUpdateSerializer):
    """The quota to set while approving a project: any quota field; the site's default for the rest."""

    reason = None  # the approval's reason is recorded in the quota's history


class ApprovalSerializer(StrictSerializerMixin, serializers.Serializer):
    """A site admin's approval of a pending project."""

    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=2000,
        help_text=_("Why the project is approved; shown to its members."),
    )
    quota = ApprovalQuotaSerializer(
        required=False,
        help_text=_(
            "Optional: quota values to set with the approval, in one step (the site's default for the rest)."
        ),
    )
