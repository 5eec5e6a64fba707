"""The provenance answer of the API (``data.as_data``) described for the schema, and the body of a
reproduction asked from a run or a model version."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from portal.api import StrictSerializerMixin

S = serializers


class PersonSerializer(S.Serializer):
    username = S.CharField(help_text=_("The submitter's user name."))
    name = S.CharField(help_text=_("The name they gave (their user name when they gave none)."))


class JobLinkSerializer(S.Serializer):
    id = S.IntegerField(help_text=_("The job's id."))
    name = S.CharField(help_text=_("The job's name."))
    url = S.CharField(help_text=_("The job's page."))


class ReproductionSerializer(JobLinkSerializer):
    submitted_at = S.DateTimeField(help_text=_("When the reproduction was submitted."))
    submitted_by = PersonSerializer(help_text=_("Who submitted it."))


class ResourcesSerializer(S.Serializer):
    cpu = S.CharField(help_text=_("CPU cores."))
    memory_mib = S.IntegerField(help_text=_("Memory in MiB."))
    gpus = S.IntegerField(help_text=_("Number of GPUs."))
    gpu_type = S.CharField(help_text=_("GPU product, if one was asked."))


class ProvenanceJobSerializer(JobLinkSerializer):
    provenance_url = S.CharField(help_text=_("The job's provenance page."))
    status = S.CharField(help_text=_("The job's status."))
    submitted_by = PersonSerializer(help_text=_("Who submitted it (name only)."))
    submitted_at = S.DateTimeField(help_text=_("When it was submitted."))
    started_at = S.DateTimeField(allow_null=True, help_text=_("When it started, if it did."))
    finished_at = S.DateTimeField(allow_null=True, help_text=_("When it ended, if it did."))
    backend = S.CharField(help_text=_("Where it ran: local or kubernetes."))
    exit_code = S.IntegerField(allow_null=True, help_text=_("The exit code of its command."))
    command = S.ListField(child=S.CharField(), help_text=_("The program and its arguments."))
    resources = ResourcesSerializer(help_text=_("What it asked for."))
    time_limit_minutes = S.IntegerField(help_text=_("Its time limit in minutes."))
    gpu_hours = S.FloatField(allow_null=True, help_text=_("GPUs times the hours it ran."))
    experiment = S.CharField(help_text=_("The project's MLflow experiment of its run."))
    reproduced_from = JobLinkSerializer(allow_null=True, help_text=_("The job this one reproduces."))
    reproductions = ReproductionSerializer(many=True, help_text=_("The jobs that reproduce this one."))


class ProvenanceRunSerializer(S.Serializer):
    run_id = S.CharField(help_text=_("The MLflow run's id."))
    run_name = S.CharField(required=False, help_text=_("The run's name."))
    experiment_id = S.CharField(required=False, help_text=_("The run's experiment."))
    status = S.CharField(required=False, help_text=_("The run's status in MLflow."))
    started_at = S.DateTimeField(required=False, allow_null=True, help_text=_("When the run started."))
    ended_at = S.DateTimeField(required=False, allow_null=True, help_text=_("When the run ended."))
    url = S.CharField(help_text=_("The run's page."))
    reproduced_from_run = S.CharField(required=False, help_text=_("The run this run reproduces (its tag)."))
    reproduced_by_run = S.CharField(
        required=False, help_text=_("The latest run that reproduces it (its tag).")
    )


class VersionLinkSerializer(S.Serializer):
    name = S.CharField(help_text=_("The registered model's full name."))
    version = S.CharField(help_text=_("The version number."))
    url = S.CharField(help_text=_("The version's page."))
    provenance_url = S.CharField(help_text=_("The version's provenance page."))


class ProvenanceVersionSerializer(VersionLinkSerializer):
    run_id = S.CharField(help_text=_("The run the version was registered from."))
    source = S.CharField(help_text=_("Where the model's files are."))
    status = S.CharField(help_text=_("The version's status in MLflow."))
    created_at = S.DateTimeField(allow_null=True, help_text=_("When it was registered."))


class CodeSerializer(S.Serializer):
    git = S.CharField(required=False, help_text=_("The git repository's address."))
    ref = S.CharField(required=False, help_text=_("The branch, tag or commit asked."))
    commit = S.CharField(required=False, help_text=_("The commit that ran."))
    commit_url = S.CharField(required=False, help_text=_("The commit's page on its forge, when known."))
    snapshot = S.CharField(required=False, help_text=_("The SHA-256 of the code snapshot that ran."))


class ImageSerializer(S.Serializer):
    image = S.CharField(help_text=_("The image asked."))
    digest = S.CharField(help_text=_("The image's digest as the backend reported it, if it did."))
    pinned = S.CharField(help_text=_("The image pinned by its digest: what a reproduction runs."))


class DatasetSerializer(S.Serializer):
    name = S.CharField(help_text=_("The dataset's name."))
    digest = S.CharField(help_text=_("Its digest (the data version)."))
    source_type = S.CharField(help_text=_("The kind of its source."))
    source = S.CharField(help_text=_("Where it comes from."))
    context = S.CharField(help_text=_("What the run used it for (training, evaluation)."))


class ProvenanceSerializer(S.Serializer):
    project = S.CharField(help_text=_("The project's slug."))
    model_version = ProvenanceVersionSerializer(
        allow_null=True, help_text=_("The model version asked about.")
    )
    run = ProvenanceRunSerializer(allow_null=True, help_text=_("The MLflow run."))
    job = ProvenanceJobSerializer(allow_null=True, help_text=_("The job that made the run."))
    code = CodeSerializer(help_text=_("The code that ran."))
    image = ImageSerializer(help_text=_("The image that ran."))
    data = DatasetSerializer(many=True, help_text=_("The run's data inputs."))
    parameters = S.DictField(child=S.CharField(), help_text=_("The run's parameters."))
    model_versions = VersionLinkSerializer(many=True, help_text=_("Model versions registered from the run."))
    mlflow_error = S.CharField(help_text=_("Why the MLflow part is missing, when it is."))


class ReproduceFromSerializer(StrictSerializerMixin, S.Serializer):
    job = S.IntegerField(required=False, min_value=1, help_text=_("A job's id."))
    run = S.CharField(required=False, max_length=64, help_text=_("An MLflow run's id."))
    project = S.SlugField(required=False, help_text=_("A model version's project."))
    model = S.CharField(required=False, max_length=250, help_text=_("A model version's model name."))
    version = S.CharField(required=False, max_length=20, help_text=_("A model version's number."))

    def validate(self, attrs: dict) -> dict:
        kinds = [bool(attrs.get("job")), bool(attrs.get("run")), bool(attrs.get("model"))]
        if sum(kinds) != 1:
            raise S.ValidationError(_('Name one of "job", "run", or "project", "model" and "version".'))
        if attrs.get("model") and not (attrs.get("project") and attrs.get("version")):
            raise S.ValidationError(_('A model version needs "project", "model" and "version".'))
        return attrs


class ReproduceSerializer(StrictSerializerMixin, S.Serializer):
    """``{"from": {...}}``: "from" is a Python keyword, so the field is declared in get_fields."""

    def get_fields(self) -> dict:
        return {
            "from": ReproduceFromSerializer(
                help_text=_("What to reproduce: a job, a run, or a model version.")
            )
        }
