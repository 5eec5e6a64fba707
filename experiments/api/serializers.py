"""The shapes the experiments API answers with, for the OpenAPI schema.

The views return the gateway's plain dicts as they are (building 50 runs through DRF fields would
cost more than MLflow's own search, see bench/); these serializers describe those dicts field by
field, so that the schema says what a script gets and schemathesis checks every answer against it.
MLflow's times are milliseconds since the Unix epoch.
"""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

TAGS_HELP = _("Tags as key/value strings.")


def _millis(help_text: str) -> serializers.IntegerField:
    return serializers.IntegerField(allow_null=True, help_text=help_text)


class ExperimentSerializer(serializers.Serializer):
    """An MLflow experiment of a project."""

    experiment_id = serializers.CharField(help_text=_("MLflow's id of the experiment."))
    name = serializers.CharField(help_text=_("Full MLflow name: `<project>/<name>`."))
    short_name = serializers.CharField(help_text=_("The name without the project prefix."))
    project = serializers.CharField(help_text=_("Slug of the project that owns it."))
    artifact_location = serializers.CharField(help_text=_("Where MLflow stores its runs' artifacts."))
    lifecycle_stage = serializers.CharField(help_text=_("`active`, or `deleted` once deleted."))
    tags = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        help_text=_("The experiment's tags, without MLflow's own `mlflow.*` tags."),
    )
    creation_time = _millis(_("When it was created, in milliseconds since the epoch."))
    last_update_time = _millis(_("When it last changed, in milliseconds since the epoch."))


class ExperimentPageSerializer(serializers.Serializer):
    """One page of a project's experiments, by name."""

    experiments = ExperimentSerializer(many=True, help_text=_("The experiments of this page."))
    next_page_token = serializers.CharField(
        allow_null=True, help_text=_("Pass as `page_token` for the next page; null on the last page.")
    )


class RunSerializer(serializers.Serializer):
    """An MLflow run: its info, params, latest metrics and tags."""

    run_id = serializers.CharField(help_text=_("MLflow's id of the run."))
    run_name = serializers.CharField(allow_blank=True, help_text=_("The run's name, may be empty."))
    experiment_id = serializers.CharField(help_text=_("Id of the experiment it belongs to."))
    status = serializers.CharField(
        help_text=_("MLflow's run status: RUNNING, SCHEDULED, FINISHED, FAILED or KILLED.")
    )
    start_time = _millis(_("When it started, in milliseconds since the epoch."))
    end_time = _millis(_("When it ended, in milliseconds since the epoch; null while it runs."))
    user = serializers.CharField(allow_blank=True, help_text=_("Who logged it, as MLflow recorded it."))
    artifact_uri = serializers.CharField(allow_blank=True, help_text=_("Where its artifacts are stored."))
    lifecycle_stage = serializers.CharField(help_text=_("`active`, or `deleted` once deleted."))
    params = serializers.DictField(
        child=serializers.CharField(allow_blank=True), help_text=_("Parameters, name to value (strings).")
    )
    metrics = serializers.DictField(
        child=serializers.FloatField(allow_null=True),
        help_text=_(
            "Latest value of each metric; null for a value that is not a finite number (NaN, infinity)."
        ),
    )
    tags = serializers.DictField(child=serializers.CharField(allow_blank=True), help_text=TAGS_HELP)
    job_id = serializers.CharField(
        allow_blank=True, help_text=_("Id of the portal job that made the run; empty for other runs.")
    )


class RunPageSerializer(serializers.Serializer):
    """One page of runs, in the order asked."""

    runs = RunSerializer(many=True, help_text=_("The runs of this page."))
    next_page_token = serializers.CharField(
        allow_null=True, help_text=_("Pass as `page_token` for the next page; null on the last page.")
    )


class MetricPointSerializer(serializers.Serializer):
    """One logged value of a metric."""

    step = serializers.IntegerField(help_text=_("The training step it was logged at."))
    value = serializers.FloatField(
        allow_null=True, help_text=_("The value; null when it is not a finite number (NaN, infinity).")
    )
    timestamp = serializers.IntegerField(help_text=_("When it was logged, in milliseconds since the epoch."))


class RunDetailSerializer(RunSerializer):
    """A run with every metric's history and the portal job that made it."""

    metric_history = serializers.DictField(
        child=MetricPointSerializer(many=True),
        help_text=_("Every logged point of each metric, by metric name, in logging order."),
    )
    job = serializers.IntegerField(
        allow_null=True, help_text=_("Id of the portal job whose MLflow run this is; null if none.")
    )
    project = serializers.CharField(help_text=_("Slug of the project that owns the run."))


class ModelVersionSerializer(serializers.Serializer):
    """A version of a registered model."""

    name = serializers.CharField(help_text=_("Full name of the registered model."))
    version = serializers.CharField(help_text=_("Version number, as a string."))
    aliases = serializers.ListField(
        child=serializers.CharField(), help_text=_("Aliases pointing at this version, e.g. `champion`.")
    )
    tags = serializers.DictField(child=serializers.CharField(allow_blank=True), help_text=TAGS_HELP)
    run_id = serializers.CharField(allow_blank=True, help_text=_("The run that produced it, if known."))
    source = serializers.CharField(allow_blank=True, help_text=_("Where its files come from."))
    status = serializers.CharField(
        help_text=_("MLflow's status: READY, PENDING_REGISTRATION or FAILED_REGISTRATION.")
    )
    description = serializers.CharField(allow_blank=True, help_text=_("Its description, may be empty."))
    creation_timestamp = _millis(_("When it was registered, in milliseconds since the epoch."))
    last_updated_timestamp = _millis(_("When it last changed, in milliseconds since the epoch."))


class RegisteredModelSerializer(serializers.Serializer):
    """A registered model of a project, with its aliases, tags and latest versions."""

    name = serializers.CharField(help_text=_("Full MLflow name: `<project>.<name>`."))
    short_name = serializers.CharField(help_text=_("The name without the project prefix."))
    description = serializers.CharField(allow_blank=True, help_text=_("Its description, may be empty."))
    tags = serializers.DictField(child=serializers.CharField(allow_blank=True), help_text=TAGS_HELP)
    aliases = serializers.DictField(
        child=serializers.CharField(), help_text=_("Alias to the version number it points at.")
    )
    latest_versions = ModelVersionSerializer(
        many=True, help_text=_("The latest version in each stage, as MLflow reports them.")
    )
    creation_timestamp = _millis(_("When it was registered, in milliseconds since the epoch."))
    last_updated_timestamp = _millis(_("When it last changed, in milliseconds since the epoch."))


class ModelPageSerializer(serializers.Serializer):
    """One page of a project's registered models, by name."""

    models = RegisteredModelSerializer(many=True, help_text=_("The registered models of this page."))
    next_page_token = serializers.CharField(
        allow_null=True, help_text=_("Pass as `page_token` for the next page; null on the last page.")
    )
