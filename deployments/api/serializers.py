from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from portal.api import StrictSerializerMixin

from ..models import Deployment


class DeploymentSerializer(serializers.ModelSerializer):
    project = serializers.CharField(source="project.slug", read_only=True)
    model = serializers.CharField(source="short_model_name", read_only=True)
    url = serializers.SerializerMethodField()
    status_reason = serializers.SerializerMethodField()

    class Meta:
        model = Deployment
        fields = [
            "id",
            "project",
            "name",
            "model",
            "model_name",
            "alias",
            "version",
            "serving_version",
            "previous_version",
            "replicas",
            "serving_replicas",
            "cpu",
            "memory_mib",
            "gpus",
            "status",
            "status_reason",
            "backend",
            "url",
            "created_at",
            "updated_at",
            "stopped_at",
        ]
        read_only_fields = fields

    def get_url(self, deployment: Deployment) -> str:
        """Where clients call it: ``POST`` MLflow's scoring protocol to this path on the portal."""
        return f"/serve/{deployment.project.slug}/{deployment.name}/invocations"

    def get_status_reason(self, deployment: Deployment) -> str:
        return _(deployment.status_reason) if deployment.status_reason else ""


class DeploymentCreateSerializer(StrictSerializerMixin, serializers.Serializer):
    project = serializers.CharField(help_text=_("The project's slug."))
    name = serializers.CharField(
        max_length=40, help_text=_("Unique in the project; part of the serving URL.")
    )
    model = serializers.CharField(max_length=200, help_text=_("The registered model's name in the project."))
    version = serializers.CharField(required=False, allow_blank=True, max_length=20)
    alias = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text=_("Follow this alias.")
    )
    replicas = serializers.IntegerField(required=False, default=1)
    cpu = serializers.DecimalField(required=False, default="1", max_digits=6, decimal_places=2)
    memory_mib = serializers.IntegerField(required=False, default=1024)
    gpus = serializers.IntegerField(required=False, default=0)


class VersionSerializer(StrictSerializerMixin, serializers.Serializer):
    version = serializers.CharField(required=False, allow_blank=True, max_length=20)
    alias = serializers.CharField(required=False, allow_blank=True, max_length=200)


class ScaleSerializer(StrictSerializerMixin, serializers.Serializer):
    replicas = serializers.IntegerField()


class KeySerializer(serializers.ModelSerializer):
    class Meta:
        from ..models import DeploymentKey

        model = DeploymentKey
        fields = ["id", "name", "prefix", "created_at", "revoked_at"]
        read_only_fields = fields


class NewKeySerializer(StrictSerializerMixin, serializers.Serializer):
    name = serializers.CharField(max_length=100)


class CreatedKeySerializer(KeySerializer):
    key = serializers.CharField(read_only=True, help_text=_("Shown once: the portal keeps only its hash."))

    class Meta(KeySerializer.Meta):
        fields = [*KeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class TrafficSerializer(serializers.Serializer):
    minute = serializers.DateTimeField()
    requests = serializers.IntegerField()
    errors = serializers.IntegerField()
    p50_ms = serializers.FloatField(allow_null=True)
    p95_ms = serializers.FloatField(allow_null=True)
    p99_ms = serializers.FloatField(allow_null=True)


class DeploymentDetailSerializer(DeploymentSerializer):
    traffic = serializers.SerializerMethodField(help_text=_("The last hour, one row a minute."))

    class Meta(DeploymentSerializer.Meta):
        fields = [*DeploymentSerializer.Meta.fields, "traffic"]
        read_only_fields = fields

    def get_traffic(self, deployment: Deployment) -> list[dict]:
        from ..traffic import series

        return TrafficSerializer(series(deployment.pk), many=True).data
