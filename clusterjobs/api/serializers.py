"""What the jobs API reads and writes. The submission's fields are ``JobRequest``'s (derived from its
fields: names, types, defaults, help); input serializers reject unknown fields and wrong types; the
rules (maxima, quota, names) are ``validation.check_request``'s, the same as for the pages."""

import dataclasses
import typing
from datetime import tzinfo
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from portal.api import StrictSerializerMixin
from portal.times import api_time

from ..models import Job, JobStatus, JobTransition
from ..request import RESOURCES, JobRequest
from ..validation import check_request


class StringField(serializers.CharField):
    """A string, and only a string: 5 or true are refused rather than turned into "5"/"True"."""

    default_error_messages = {"not_a_string": _("Must be a string.")}

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]})
class StringOrListField(serializers.Field):
    """A string, or a list of strings (a source's "dvc" targets)."""

    default_error_messages = {"invalid": _("Must be a string or a list of strings.")}

    def to_internal_value(self, data):
        if isinstance(data, str) or (isinstance(data, list) and all(isinstance(item, str) for item in data)):
            return data
        self.fail("invalid")

    def to_representation(self, value):
        return value


def _field(request_field, *, read_only: bool = False) -> serializers.Field:
    """The API field of one ``JobRequest`` field, from its type, default and help text (as input,
    or as it is shown back: ``read_only``)."""
    options: dict = {"help_text": request_field.metadata["help"]}
    if read_only:
        options["read_only"] = True
    elif request_field.name == "image":
        options["required"] = False  # the site's default image when left out
    elif request_field.default is not dataclasses.MISSING:
        options |= {"required": False, "default": request_field.default}
    elif request_field.default_factory is not dataclasses.MISSING:
        options |= {"required": False, "default": request_field.default_factory}
    kind = request_field.type
    if kind is str:
        return StringField(**options)
    if kind is int:
        return serializers.IntegerField(**options)
    if kind is Decimal:
        return serializers.DecimalField(max_digits=7, decimal_places=3, **options)
    if typing.get_origin(kind) is list:
        return serializers.ListField(child=StringField(), **options)
    if typing.get_origin(kind) is dict and typing.get_args(kind)[1] is str:
        return serializers.DictField(child=StringField(), **options)
    if typing.get_origin(kind) is dict:
        return serializers.DictField(child=StringOrListField(), **options)
    raise TypeError(f"no API field for {request_field.name}: {kind}")


def request_fields(group: str = "") -> dict[str, serializers.Field]:
    """The API fields of the request, in its order: those of ``group``, or (no group) those at
    the top of the body, with each group as a nested object where its first field is."""
    fields: dict[str, serializers.Field] = {}
    for request_field in JobRequest.fields():
        own = request_field.metadata["group"]
        if own == group:
            fields[request_field.name] = _field(request_field)
        elif not group and own not in fields:
            fields[own] = GROUPS[own](required=False, help_text=GROUP_HELP[own])
    return fields


class ResourcesSerializer(StrictSerializerMixin, serializers.Serializer):
    """What the job asks of the cluster; each field has the portal's default when left out."""

    def get_fields(self) -> dict[str, serializers.Field]:
        return request_fields(RESOURCES)


GROUPS = {RESOURCES: ResourcesSerializer}
GROUP_HELP = {RESOURCES: _("CPU, memory and GPUs; the defaults when left out.")}


class JobSubmitSerializer(StrictSerializerMixin, serializers.Serializer):
    """A new job. It answers 201 with the job, queued; it runs when the project's quota allows."""

    def get_fields(self) -> dict[str, serializers.Field]:
        project = StringField(help_text=_("Slug of an active project where you are a member or owner."))
        return {"project": project, **request_fields()}

    def to_request(self, user, project) -> JobRequest:
        """The body's request, checked (a ValidationError per field, as the form gets them)."""
        data = dict(self.validated_data)
        data.pop("project")
        for group in GROUPS:
            data |= data.pop(group, None) or {}
        return check_request(user, project, **data)


class TransitionSerializer(serializers.ModelSerializer):
    """One change of a job's status, with its reason."""

    from_status = serializers.ChoiceField(
        choices=JobStatus.choices,
        allow_blank=True,
        read_only=True,
        help_text=_("The status before; empty for the job's first status."),
    )

    class Meta:
        model = JobTransition
        fields = ["from_status", "to_status", "reason", "at"]
        read_only_fields = fields
        extra_kwargs = {
            "to_status": {"help_text": _("The status after.")},
            "reason": {
                "help_text": _("Why, for people: who cancelled, the exit code, the backend's message.")
            },
            "at": {"help_text": _("When it happened.")},
        }


class JobResourcesOut(serializers.Serializer):
    """What the job asked of the cluster."""

    def get_fields(self) -> dict[str, serializers.Field]:
        return {
            f.name: _field(f, read_only=True) for f in JobRequest.fields() if f.metadata["group"] == RESOURCES
        }


_DECIMAL = serializers.DecimalField(max_digits=7, decimal_places=3, read_only=True)
# The job's request as the API shows it: (name, column, group, how a value is shown).
_SHOWN = [
    (
        f.name,
        f.metadata["model"] or f.name,
        f.metadata["group"],
        _DECIMAL.to_representation if f.type is Decimal else None,
    )
    for f in JobRequest.fields()
]


def _request_of(row: dict) -> dict:
    """The request's fields of a job's row (``job_row``), nested as the API body nests them; secret
    values masked. (What the declared fields give, without a serializer per row: see JobSerializer.)"""
    shown: dict = {}
    for name, column, group, show in _SHOWN:
        if name == "env":
            secret = set(row["secret_env_names"])
            value = {key: ("••••••" if key in secret else item) for key, item in row["env"].items()}
        else:
            value = row[column]
            if show is not None:
                value = show(value)
            elif isinstance(value, list):
                value = [str(item) for item in value]
        (shown.setdefault(group, {}) if group else shown)[name] = value
    return shown


class JobListSerializer(serializers.ListSerializer):
    def to_representation(self, data) -> list[dict]:
        zone = timezone.get_current_timezone()  # once a page, not four times a job
        return [self.child.to_representation(job, zone) for job in data]


class JobSerializer(serializers.ModelSerializer):
    """A job, with its secret environment values masked."""

    project = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, help_text=_("Slug of the job's project.")
    )
    submitter = serializers.SlugRelatedField(
        slug_field="username", read_only=True, help_text=_("Username of who submitted it.")
    )
    command = serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        read_only=True,
        help_text=_("The program and its arguments (no shell)."),
    )
    env = serializers.SerializerMethodField(help_text=_("Environment; secret values are masked."))
    secret_env = serializers.ListField(
        source="secret_env_names",
        child=serializers.CharField(),
        read_only=True,
        help_text=_("Names in env whose values are secret and masked."),
    )
    resources = serializers.SerializerMethodField(help_text=_("CPU, memory and GPUs it asked for."))
    experiment = serializers.CharField(
        source="experiment_name", read_only=True, help_text=_("The project's MLflow experiment of its run.")
    )
    backend_name = serializers.CharField(
        read_only=True,
        help_text=_("Its name on the backend (`taller-<id>`): the Kubernetes Job, the process."),
    )

    class Meta:
        model = Job
        fields = [
            "id",
            "project",
            "submitter",
            *request_fields(),
            "status",
            "status_reason",
            "exit_code",
            "backend",
            "backend_name",
            "image_digest",
            "mlflow_experiment_id",
            "mlflow_run_id",
            "rerun_of",
            "schedule",
            "scheduled",
            "created_at",
            "dispatched_at",
            "started_at",
            "finished_at",
            "gpu_use_percent",
            "gpu_underused",
        ]
        read_only_fields = fields
        list_serializer_class = JobListSerializer
        extra_kwargs = {
            "id": {"help_text": _("The job's id.")},
            "name": {"help_text": _("Its short name.")},
            "image": {"help_text": _("Container image; recorded and ignored on the local backend.")},
            "time_limit_minutes": {"help_text": _("It is stopped after this many minutes.")},
            "source": {
                "help_text": _(
                    "Its git repository, the ref asked and the commit it named, its DVC targets (dvc) and "
                    "what the commit pins for them (data: path, md5, size); {}: none."
                )
            },
            "status": {
                "help_text": _("queued, dispatching, pending, running, then succeeded, failed or cancelled.")
            },
            "status_reason": {"help_text": _("Why it is in its status, for people.")},
            "exit_code": {
                "help_text": _("Exit code of its program once it ended; null before or if unknown.")
            },
            "backend": {"help_text": _("Where it runs: local or kubernetes; empty until dispatched.")},
            "image_digest": {"help_text": _("Digest of the image that ran, when the backend reports it.")},
            "mlflow_experiment_id": {"help_text": _("MLflow experiment of its run.")},
            "mlflow_run_id": {
                "help_text": _(
                    "Its MLflow run, created when the job is dispatched (empty before): GET /api/v1/runs/<id>/."
                )
            },
            "rerun_of": {"help_text": _("Id of the job it re-runs; null for a new job.")},
            "schedule": {
                "help_text": _(
                    "Id of the schedule that started it (directly, or as a step of a pipeline run it "
                    "started): GET /api/v1/schedules/<id>/. Null otherwise, or once that schedule is deleted."
                )
            },
            "scheduled": {
                "help_text": _(
                    "True if a schedule started it, even one deleted since. Filter: ?scheduled=true."
                )
            },
            "created_at": {"help_text": _("When it was submitted.")},
            "dispatched_at": {"help_text": _("When it was handed to the backend; null before.")},
            "started_at": {"help_text": _("When it started running; null before.")},
            "finished_at": {"help_text": _("When it ended; null before.")},
            "gpu_use_percent": {
                "help_text": _(
                    "Average use of its GPUs over its life, in %, from the site's Prometheus once it "
                    "ended; null for a job without GPUs, before it ends, or with no Prometheus."
                )
            },
            "gpu_underused": {"help_text": _("True if that average was under the site's threshold.")},
        }

    def to_representation(self, job: Job | dict, zone: tzinfo | None = None) -> dict:
        # The declared fields above describe the answer (and the schema). A page of 50 jobs is
        # built here directly from the list's value rows (``ROW``), or from one job: DRF's
        # field-by-field loop was most of the list's time (bench/bench_jobs_api.py).
        # tests/clusterjobs/test_api.py checks both give the same. ``zone``: the current time
        # zone, which a page looks up once (JobListSerializer).
        row = job if isinstance(job, dict) else job_row(job)
        zone = zone or timezone.get_current_timezone()
        job_id = row["id"]
        return {
            "id": job_id,
            "project": row["project__slug"],
            "submitter": row["submitter_username"],
            **_request_of(row),
            "status": row["status"],
            "status_reason": row["status_reason"],
            "exit_code": row["exit_code"],
            "backend": row["backend"],
            "backend_name": f"taller-{job_id}",  # Job.backend_name
            "image_digest": row["image_digest"],
            "mlflow_experiment_id": row["mlflow_experiment_id"],
            "mlflow_run_id": row["mlflow_run_id"],
            "rerun_of": row["rerun_of_id"],
            "schedule": row["schedule_id"],
            "scheduled": row["scheduled"],
            "created_at": api_time(row["created_at"], zone),
            "dispatched_at": api_time(row["dispatched_at"], zone),
            "started_at": api_time(row["started_at"], zone),
            "finished_at": api_time(row["finished_at"], zone),
            "gpu_use_percent": row["gpu_use_percent"],
            "gpu_underused": row["gpu_underused"],
        }

    def get_env(self, job: Job) -> dict[str, str]:
        return job.shown_env()

    @extend_schema_field(JobResourcesOut)
    def get_resources(self, job: Job) -> dict:
        return _request_of(job_row(job))[RESOURCES]


# What a job's answer is read from: the columns of JobSerializer's fields, and its project's and
# submitter's names. The list reads them as value rows (``Job.objects.values(*ROW)``), one query
# and no model instances (three objects per row were half of the list's time,
# bench/bench_jobs_api.py); a job is turned into the same row (``job_row``), so that both give one
# answer, built in one place.
def _columns(name: str) -> list[str]:
    """The columns a field of the answer is read from: none for the names the row adds and the
    backend name (made from the id), a request field's (a group's: its fields'), or the job's."""
    if name in ("project", "submitter", "backend_name"):
        return []
    request = [column for field_name, column, group, _show in _SHOWN if name in (field_name, group)]
    return request or [Job._meta.get_field(name).attname]


_COLUMNS = [column for name in JobSerializer.Meta.fields for column in _columns(name)]
# ``submitter_username`` is the list's annotation (see JobViewSet.list).
ROW = [*_COLUMNS, "project__slug", "submitter_username"]


def job_row(job: Job) -> dict:
    """A job as the list's value row (``ROW``)."""
    row = {column: getattr(job, column) for column in _COLUMNS}
    row["project__slug"] = job.project.slug
    row["submitter_username"] = job.submitter.username
    return row


class JobDetailSerializer(JobSerializer):
    """A job with its history of statuses."""

    transitions = TransitionSerializer(
        many=True, read_only=True, help_text=_("Every change of status, oldest first.")
    )

    def to_representation(self, job: Job, zone: tzinfo | None = None) -> dict:
        data = super().to_representation(job, zone)
        data["transitions"] = self.fields["transitions"].to_representation(job.transitions)
        return data

    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "transitions"]
        read_only_fields = fields


class LogsSerializer(serializers.Serializer):
    """The last lines of a job's output."""

    lines = serializers.ListField(
        child=serializers.CharField(allow_blank=True),
        help_text=_("The lines, oldest first, without newlines."),
    )
    complete = serializers.BooleanField(help_text=_("True once the job has ended and its log is final."))
