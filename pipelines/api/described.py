"""One description per field name for the pipelines API's schema (every field is documented)."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

HELP = {
    "id": _("Its id."),
    "project": _("Slug of the project."),
    "pipeline": _("Name of the pipeline."),
    "name": _("The name."),
    "definition": _("The definition, as checked: name, experiment and steps."),
    "created_by": _("Username of who made it."),
    "started_by": _("Username of who started it (a schedule starts runs as its author)."),
    "created_at": _("When it was made."),
    "updated_at": _("When its definition last changed."),
    "status": _("Where it is now."),
    "status_reason": _("Why, for people."),
    "reason": _("Why, for people."),
    "rerun_of": _("The run this one re-runs, if any."),
    "mlflow_experiment_id": _("The MLflow experiment of its parent run."),
    "mlflow_run_id": _("The MLflow run id."),
    "finished_at": _("When it ended."),
    "started_at": _("When it started."),
    "steps": _("Its steps, in the definition's order."),
    "depends_on": _("The steps it waits for."),
    "retries": _("How many times a failed attempt is tried again."),
    "retry_delay_seconds": _("Seconds before the first retry; doubled at each one."),
    "attempts": _("Attempts so far."),
    "job_ids": _("The jobs of every attempt."),
    "job_status": _("Its current job's status."),
    "job_status_reason": _("Why its current job is where it is (e.g. waiting for quota)."),
    "kept": _("Kept, succeeded, from the run this one re-runs."),
    "cron": _("Five-field cron expression."),
    "timezone": _("The expression's time zone."),
    "missed": _("Times missed while the portal was down: skip, or once."),
    "paused": _("Paused: starts nothing until resumed."),
    "next_run_at": _("When it next starts a run."),
    "url": _("The address called (https, public)."),
    "kind": _(
        'chat: {"text": ...} for Slack, Mattermost, Teams; signed: JSON with an HMAC-SHA256 signature.'
    ),
    "only_failures": _("Called only when something failed."),
    "subject": _("What it says."),
    "last_error": _("The last attempt's error, if any."),
    "sent_at": _("When it was sent."),
    "on_end": _("Email me when one of my jobs or pipeline runs ends."),
    "on_failure": _("Email me when one of my jobs or pipeline runs fails."),
    "wait_minutes": _(
        "Tell me (email and the project's webhooks), once, when one of my jobs or pipeline runs waits "
        "(queued or pending admission) longer than this many minutes; null: never."
    ),
}
PROJECT_SLUG = OpenApiParameter(
    "project_slug", OpenApiTypes.STR, OpenApiParameter.PATH, description=_("The project's slug.")
)
SLUG = OpenApiParameter("slug", OpenApiTypes.STR, OpenApiParameter.PATH, description=_("The project's slug."))


class Described:
    """Fills each field's missing description from HELP."""

    def get_fields(self):
        fields = super().get_fields()
        for name, field in fields.items():
            if not field.help_text and name in HELP:
                field.help_text = HELP[name]
        return fields
