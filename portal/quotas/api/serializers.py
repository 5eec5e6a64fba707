from rest_framework import serializers

from ..models import QuotaChange, QuotaRequest


class QuotaSerializer(serializers.Serializer):
    """A project's quota and the current use of each part of it."""

    project = serializers.CharField(help_text="The project's slug.")
    max_gpus = serializers.IntegerField()
    max_cpu = serializers.DecimalField(max_digits=8, decimal_places=3)
    max_memory_mib = serializers.IntegerField()
    max_running_jobs = serializers.IntegerField()
    max_time_limit_minutes = serializers.IntegerField()
    gpu_hours_per_period = serializers.DecimalField(max_digits=12, decimal_places=2)
    cpu_hours_per_period = serializers.DecimalField(max_digits=12, decimal_places=2)
    period = serializers.CharField()
    used_gpus = serializers.IntegerField(help_text="GPUs held by the project's active jobs now.")
    used_cpu = serializers.DecimalField(max_digits=14, decimal_places=3)
    used_memory_mib = serializers.IntegerField()
    running_jobs = serializers.IntegerField(help_text="Active jobs: admitted, pending or running.")
    queued_jobs = serializers.IntegerField()
    current_period = serializers.CharField()
    gpu_hours_used = serializers.DecimalField(max_digits=14, decimal_places=2)
    cpu_hours_used = serializers.DecimalField(max_digits=14, decimal_places=2)
    gpu_hours_reserved = serializers.DecimalField(
        max_digits=14, decimal_places=2, help_text="What jobs not started yet may use at most."
    )
    cpu_hours_reserved = serializers.DecimalField(max_digits=14, decimal_places=2)
    gpu_hours_remaining = serializers.DecimalField(max_digits=14, decimal_places=2)
    cpu_hours_remaining = serializers.DecimalField(max_digits=14, decimal_places=2)
    updated_at = serializers.DateTimeField()


class QuotaUpdateSerializer(serializers.Serializer):
    """The fields to change (any of them) and why. Values are checked by the action (400 per field)."""

    max_gpus = serializers.IntegerField(required=False)
    max_cpu = serializers.DecimalField(max_digits=None, decimal_places=None, required=False)
    max_memory_mib = serializers.IntegerField(required=False)
    max_running_jobs = serializers.IntegerField(required=False)
    max_time_limit_minutes = serializers.IntegerField(required=False)
    gpu_hours_per_period = serializers.DecimalField(max_digits=None, decimal_places=None, required=False)
    cpu_hours_per_period = serializers.DecimalField(max_digits=None, decimal_places=None, required=False)
    period = serializers.CharField(required=False)
    reason = serializers.CharField(help_text="Recorded in the quota's history.")

    def validate(self, attrs):
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError({name: "Not a quota field." for name in sorted(unknown)})
        return attrs


class UsageSerializer(serializers.Serializer):
    gpu_hours = serializers.DecimalField(max_digits=14, decimal_places=2)
    cpu_hours = serializers.DecimalField(max_digits=14, decimal_places=2)
    memory_gib_hours = serializers.DecimalField(max_digits=16, decimal_places=2)
    jobs = serializers.IntegerField()


class MemberUsageSerializer(UsageSerializer):
    username = serializers.CharField()


class ProjectUsageSerializer(serializers.Serializer):
    project = serializers.CharField()
    period = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    total = UsageSerializer()
    members = MemberUsageSerializer(many=True)


class QuotaRequestSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

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


class QuotaRequestCreateSerializer(serializers.Serializer):
    values = serializers.DictField(
        help_text='The new values asked for, e.g. {"max_gpus": 8, "gpu_hours_per_period": "500"}.'
    )
    reason = serializers.CharField()


class DecisionSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class QuotaChangeSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = QuotaChange
        fields = ["id", "at", "actor", "reason", "old_values", "new_values", "request"]
        read_only_fields = fields
