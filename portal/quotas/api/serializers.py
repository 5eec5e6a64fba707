from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from portal.api import StrictSerializerMixin

from ..models import QuotaChange, QuotaRequest

PERIOD = _("Budget period: weekly, monthly, quarterly or yearly.")


class QuotaSerializer(serializers.Serializer):
    """A project's quota and the current use of each part of it."""

    project = serializers.CharField(help_text=_("Slug of the project."))
    max_gpus = serializers.IntegerField(help_text=_("GPUs the project's jobs may hold at once."))
    max_cpu = serializers.DecimalField(
        max_digits=8, decimal_places=3, help_text=_("CPU cores the project's jobs may hold at once.")
    )
    max_memory_mib = serializers.IntegerField(
        help_text=_("Memory (MiB) the project's jobs may hold at once.")
    )
    max_running_jobs = serializers.IntegerField(
        help_text=_("Jobs that may be active (admitted or running) at once.")
    )
    max_time_limit_minutes = serializers.IntegerField(help_text=_("Longest time limit one job may ask for."))
    gpu_hours_per_period = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text=_("GPU-hour budget of each period.")
    )
    cpu_hours_per_period = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text=_("CPU-hour budget of each period.")
    )
    period = serializers.CharField(help_text=PERIOD)
    used_gpus = serializers.IntegerField(help_text=_("GPUs held by the project's active jobs now."))
    used_cpu = serializers.DecimalField(
        max_digits=14, decimal_places=3, help_text=_("CPU cores held by the project's active jobs now.")
    )
    used_memory_mib = serializers.IntegerField(
        help_text=_("Memory (MiB) held by the project's active jobs now.")
    )
    running_jobs = serializers.IntegerField(help_text=_("Active jobs now: admitted, pending or running."))
    queued_jobs = serializers.IntegerField(help_text=_("Jobs waiting in the project's queue."))
    current_period = serializers.CharField(help_text=_("The current budget period, e.g. 2026-11."))
    gpu_hours_used = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        help_text=_("GPU-hours used in the current period (running jobs up to now)."),
    )
    cpu_hours_used = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        help_text=_("CPU-hours used in the current period (running jobs up to now)."),
    )
    gpu_hours_reserved = serializers.DecimalField(
        max_digits=14, decimal_places=2, help_text=_("GPU-hours that jobs not started yet may use at most.")
    )
    cpu_hours_reserved = serializers.DecimalField(
        max_digits=14, decimal_places=2, help_text=_("CPU-hours that jobs not started yet may use at most.")
    )
    gpu_hours_remaining = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        help_text=_("GPU-hours left in the period after use and reservations."),
    )
    cpu_hours_remaining = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        help_text=_("CPU-hours left in the period after use and reservations."),
    )
    updated_at = serializers.DateTimeField(help_text=_("When the quota last changed."))


class QuotaUpdateSerializer(StrictSerializerMixin, serializers.Serializer):
    """The fields to change (any of them) and why. Values are checked by the action (400 per field)."""

    max_gpus = serializers.IntegerField(
        required=False, help_text=_("GPUs the project's jobs may hold at once.")
    )
    max_cpu = serializers.DecimalField(
        max_digits=None, decimal_places=None, required=False, help_text=_("CPU cores, up to 3 decimals.")
    )
    max_memory_mib = serializers.IntegerField(required=False, help_text=_("Memory in MiB."))
    max_running_jobs = serializers.IntegerField(required=False, help_text=_("Active jobs at once."))
    max_time_limit_minutes = serializers.IntegerField(
        required=False, help_text=_("Longest time limit per job.")
    )
    gpu_hours_per_period = serializers.DecimalField(
        max_digits=None,
        decimal_places=None,
        required=False,
        help_text=_("GPU-hour budget, up to 2 decimals."),
    )
    cpu_hours_per_period = serializers.DecimalField(
        max_digits=None,
        decimal_places=None,
        required=False,
        help_text=_("CPU-hour budget, up to 2 decimals."),
    )
    period = serializers.CharField(required=False, help_text=PERIOD)
    reason = serializers.CharField(help_text=_("Why the quota changes; recorded in its history."))


class UsageSerializer(serializers.Serializer):
    """What jobs used in a period: accelerator, processor and memory time, and how many jobs."""

    gpu_hours = serializers.DecimalField(max_digits=14, decimal_places=2, help_text=_("GPU-hours used."))
    cpu_hours = serializers.DecimalField(max_digits=14, decimal_places=2, help_text=_("CPU-hours used."))
    memory_gib_hours = serializers.DecimalField(
        max_digits=16, decimal_places=2, help_text=_("Memory used, in GiB-hours.")
    )
    jobs = serializers.IntegerField(help_text=_("Jobs that ran in the period."))


class MemberUsageSerializer(UsageSerializer):
    """One member's use in the period."""

    username = serializers.CharField(help_text=_("The member who submitted the jobs."))


class ProjectUsageSerializer(serializers.Serializer):
    """A project's use in one period, in total and per member."""

    project = serializers.CharField(help_text=_("Slug of the project."))
    period = serializers.CharField(help_text=_("The period, e.g. 2026-11, 2026-Q4, 2026-W47 or 2026."))
    start = serializers.DateTimeField(help_text=_("Start of the period (included)."))
    end = serializers.DateTimeField(help_text=_("End of the period (excluded)."))
    total = UsageSerializer(help_text=_("The project's use in the period."))
    members = MemberUsageSerializer(many=True, help_text=_("Use per member, largest first."))


class QuotaRequestSerializer(serializers.ModelSerializer):
    """An owner's request for more quota, and the site admin's decision."""

    project = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, help_text=_("Slug of the project.")
    )
    requested_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, help_text=_("The owner who asked.")
    )
    decided_by = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        allow_null=True,
        help_text=_("The site admin who decided; null while pending."),
    )
    values = serializers.DictField(read_only=True, help_text=_("The new values asked for, by quota field."))

    class Meta:
        model = QuotaRequest
        fields = [
            "id",
            "project",
            "requested_by",
            "requested_at",
            "values",
            "reason",
            "status",
            "decided_by",
            "decided_at",
            "decision_reason",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "id": {"help_text": _("Id of the request.")},
            "requested_at": {"help_text": _("When it was asked.")},
            "reason": {"help_text": _("Why the project needs it.")},
            "status": {"help_text": _("pending, approved or declined.")},
            "decided_at": {"help_text": _("When it was decided.")},
            "decision_reason": {"help_text": _("The site admin's reason.")},
        }


class QuotaRequestCreateSerializer(StrictSerializerMixin, serializers.Serializer):
    """A request for more of some quota fields, with its reason; a site admin decides."""

    values = serializers.DictField(
        help_text=_('The new values asked for, e.g. {"max_gpus": 8, "gpu_hours_per_period": "500"}.')
    )
    reason = serializers.CharField(help_text=_("Why the project needs it."))


class QuotaDecisionSerializer(StrictSerializerMixin, serializers.Serializer):
    """A site admin's decision on a pending quota request."""

    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text=_("Why: optional to approve, needed to decline."),
    )


class QuotaChangeSerializer(serializers.ModelSerializer):
    """One change of a project's quota: who, when, why, and the values before and after."""

    actor = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        allow_null=True,
        help_text=_("Who changed it; null if that account was deleted."),
    )
    old_values = serializers.DictField(read_only=True, help_text=_("The quota before, by field."))
    new_values = serializers.DictField(read_only=True, help_text=_("The quota after, by field."))

    class Meta:
        model = QuotaChange
        fields = ["id", "at", "actor", "reason", "old_values", "new_values", "request"]
        read_only_fields = fields
        extra_kwargs = {
            "id": {"help_text": _("Id of the change.")},
            "at": {"help_text": _("When it changed.")},
            "reason": {"help_text": _("Why it changed.")},
            "request": {"help_text": _("The approved request that made this change, if any.")},
        }
