from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from portal.api import StrictSerializerMixin

from ..models import Deployment


class DeploymentSerializer(serializers.ModelSerializer):
    project = serializers.CharField(source="project.slug", read_only=True, help_text=_("The project's slug."))
    model = serializers.CharField(
        source="short_model_name", read_only=True, help_text=_("The registered model's name in the project.")
    )
    url = serializers.SerializerMethodField(help_text=_("Where clients call it (MLflow's scoring protocol)."))
    status_reason = serializers.SerializerMethodField(help_text=_("Why it is in its status."))

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
            "sample_fraction",
            "sample_retention_days",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "id": {"help_text": _("The deployment's id.")},
            "name": {"help_text": _("Unique in the project; part of the serving URL.")},
            "model_name": {"help_text": _("The registered model's full name in MLflow.")},
            "alias": {"help_text": _("The alias it follows, or empty for a fixed version.")},
            "version": {"help_text": _("The model version wanted.")},
            "serving_version": {"help_text": _("The model version serving now.")},
            "previous_version": {"help_text": _("The version a roll back returns to.")},
            "replicas": {"help_text": _("Replicas wanted.")},
            "serving_replicas": {"help_text": _("Replicas serving now.")},
            "cpu": {"help_text": _("CPU cores per replica.")},
            "memory_mib": {"help_text": _("Memory per replica, in MiB.")},
            "gpus": {"help_text": _("GPUs per replica.")},
            "status": {"help_text": _("starting, running, updating, failed or stopped.")},
            "backend": {"help_text": _("Where it runs: local or kubernetes.")},
            "created_at": {"help_text": _("When it was made.")},
            "updated_at": {"help_text": _("When it last changed.")},
            "stopped_at": {"help_text": _("When it was stopped.")},
            "sample_fraction": {"help_text": _("The share of calls whose bodies are kept (0: none).")},
            "sample_retention_days": {"help_text": _("Days sampled calls are kept.")},
        }

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
    version = serializers.CharField(
        required=False, allow_blank=True, max_length=20, help_text=_("A model version (or give an alias).")
    )
    alias = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text=_("Follow this alias.")
    )
    replicas = serializers.IntegerField(required=False, default=1, help_text=_("Replicas wanted."))
    cpu = serializers.DecimalField(
        required=False, default="1", max_digits=6, decimal_places=2, help_text=_("CPU cores per replica.")
    )
    memory_mib = serializers.IntegerField(
        required=False, default=1024, help_text=_("Memory per replica, in MiB.")
    )
    gpus = serializers.IntegerField(required=False, default=0, help_text=_("GPUs per replica."))


class VersionSerializer(StrictSerializerMixin, serializers.Serializer):
    version = serializers.CharField(
        required=False, allow_blank=True, max_length=20, help_text=_("The model version to serve.")
    )
    alias = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text=_("Or an alias to follow.")
    )


class ScaleSerializer(StrictSerializerMixin, serializers.Serializer):
    replicas = serializers.IntegerField(help_text=_("Replicas wanted."))


class NumberField(serializers.FloatField):
    """A JSON number: DRF's FloatField takes true and false as 1.0 and 0.0."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class SamplingSerializer(StrictSerializerMixin, serializers.Serializer):
    fraction = NumberField(
        min_value=0, max_value=1, help_text=_("The share of calls to keep, from 0 (off) to 1 (every call).")
    )
    retention_days = serializers.IntegerField(
        min_value=1, help_text=_("Days the sampled calls are kept (at most the site's maximum).")
    )


class SampleSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text=_("The sample's id."))
    at = serializers.DateTimeField(help_text=_("When the call was answered."))
    status = serializers.IntegerField(help_text=_("The model server's HTTP status."))
    latency_ms = serializers.IntegerField(help_text=_("Milliseconds until the model server answered."))
    content_type = serializers.CharField(help_text=_("The request's content type."))
    request = serializers.SerializerMethodField(
        help_text=_("The request body (text), cut at the site's bound.")
    )
    request_truncated = serializers.BooleanField(help_text=_("Whether the request body was cut."))
    response = serializers.SerializerMethodField(
        help_text=_("The answer body (text), cut at the site's bound.")
    )
    response_truncated = serializers.BooleanField(help_text=_("Whether the answer body was cut."))

    def get_request(self, sample) -> str:
        return sample.request_text()

    def get_response(self, sample) -> str:
        return sample.response_text()


class KeySerializer(serializers.ModelSerializer):
    class Meta:
        from ..models import DeploymentKey

        model = DeploymentKey
        fields = ["id", "name", "prefix", "created_at", "revoked_at"]
        read_only_fields = fields
        extra_kwargs = {
            "id": {"help_text": _("The key's id, to revoke it.")},
            "name": {"help_text": _("What the key is for (a demo page, another group).")},
            "prefix": {"help_text": _("The key's first characters, to tell keys apart.")},
            "created_at": {"help_text": _("When the key was made.")},
            "revoked_at": {"help_text": _("When the key was revoked; empty while it works.")},
        }


class NewKeySerializer(StrictSerializerMixin, serializers.Serializer):
    name = serializers.CharField(
        max_length=100, help_text=_("What the key is for (a demo page, another group).")
    )


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
