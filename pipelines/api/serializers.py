"""What the pipelines API shows. A definition comes in as the JSON body itself, or as YAML (or
JSON) text in ``definition``; ``definition.check`` is its one check."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from portal.api import StrictSerializerMixin

from ..models import Pipeline, PipelineRun, StepRun
from .described import Described


class StartSerializer(Described, StrictSerializerMixin, serializers.Serializer):
    """A pipeline to run: its definition as text, or its fields in the body itself."""

    project = serializers.CharField(required=False, help_text=_("Slug of the project; or in the definition."))
    definition = serializers.CharField(
        required=False, help_text=_("The definition as YAML or JSON text (what `taller pipeline run` sends).")
    )
    name = serializers.CharField(required=False, help_text=_("The pipeline's name."))
    experiment = serializers.CharField(
        required=False, help_text=_("The MLflow experiment of its parent run.")
    )
    steps = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text=_(
            "Each a job body (as POST /jobs/ takes, without project) with name, depends_on, retries."
        ),
    )


class RerunSerializer(Described, StrictSerializerMixin, serializers.Serializer):
    from_failed = serializers.BooleanField(
        default=False, help_text=_("Keep the steps that succeeded and run the others again.")
    )


class PipelineStepSerializer(Described, serializers.ModelSerializer):
    job = serializers.IntegerField(
        source="job_id", read_only=True, allow_null=True, help_text=_("Its current job.")
    )
    job_status = serializers.CharField(source="job.status", read_only=True, default=None)
    job_status_reason = serializers.CharField(source="job.status_reason", read_only=True, default=None)
    mlflow_run_id = serializers.CharField(source="job.mlflow_run_id", read_only=True, default=None)

    class Meta:
        model = StepRun
        fields = [
            "name",
            "status",
            "reason",
            "depends_on",
            "retries",
            "retry_delay_seconds",
            "attempts",
            "job",
            "job_ids",
            "job_status",
            "job_status_reason",
            "mlflow_run_id",
            "kept",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class PipelineRunSerializer(Described, serializers.ModelSerializer):
    pipeline = serializers.CharField(source="pipeline.name", read_only=True)
    project = serializers.CharField(source="project.slug", read_only=True)
    started_by = serializers.CharField(source="started_by.username", read_only=True)

    class Meta:
        model = PipelineRun
        fields = [
            "id",
            "pipeline",
            "project",
            "started_by",
            "status",
            "status_reason",
            "rerun_of",
            "mlflow_experiment_id",
            "mlflow_run_id",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


class PipelineRunDetailSerializer(PipelineRunSerializer):
    steps = PipelineStepSerializer(many=True, read_only=True)

    class Meta(PipelineRunSerializer.Meta):
        fields = [*PipelineRunSerializer.Meta.fields, "definition", "steps"]
        read_only_fields = fields


class PipelineSerializer(Described, serializers.ModelSerializer):
    project = serializers.CharField(source="project.slug", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True)

    class Meta:
        model = Pipeline
        fields = ["id", "project", "name", "definition", "created_by", "created_at", "updated_at"]
        read_only_fields = fields
