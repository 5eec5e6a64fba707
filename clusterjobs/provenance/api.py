"""The provenance API: a job's, a run's or a model version's provenance as JSON or as an RO-Crate,
and reproduce (from a job, or ``{"from": ...}`` a run or a model version). Access comes from
``subjects`` (404 for what the user cannot see, 403 for a viewer's reproduction); a reproduction's
refusals are the submission's (400 per field, 503 when MLflow is down)."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from experiments import gateway
from portal.api import Unavailable

from ..api.serializers import JobSerializer
from ..request import JobRequest
from . import actions, crate, subjects
from .data import as_data
from .serializers import ProvenanceSerializer, ReproduceSerializer
from .trail import Trail
from .views import crate_response

JOB_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description=_("The job's id."))
SUBJECT = [
    OpenApiParameter("job", OpenApiTypes.INT, description=_("A job's id.")),
    OpenApiParameter("run", OpenApiTypes.STR, description=_("An MLflow run's id.")),
    OpenApiParameter(
        "project", OpenApiTypes.STR, description=_("A model version's project (with model and version).")
    ),
    OpenApiParameter(
        "model", OpenApiTypes.STR, description=_("A model version's model name in the project.")
    ),
    OpenApiParameter("version", OpenApiTypes.STR, description=_("A model version's number.")),
]
AS = OpenApiParameter(
    "as",
    OpenApiTypes.STR,
    enum=["zip", "json"],
    description=_("zip (the default) or json (ro-crate-metadata.json)."),
)
ERRORS = {
    403: OpenApiResponse(description=_("You may see the project but not submit in it.")),
    404: OpenApiResponse(description=_("No such job, run or model version in a project you can see.")),
    503: OpenApiResponse(description=_("MLflow is unavailable; try again shortly.")),
}
CRATE = OpenApiResponse(OpenApiTypes.BINARY, description=_("The RO-Crate, zipped or as its metadata file."))
CRATE_JSON = OpenApiResponse(
    OpenApiTypes.OBJECT, description=_("The RO-Crate, zipped or as its metadata file.")
)


def _mlflow(call, *args):
    try:
        return call(*args)
    except gateway.GatewayError as error:
        if error.status == 404:
            raise exceptions.NotFound(str(error)) from error
        raise Unavailable(str(error)) from error


def _subject(request: Request, values) -> Trail:
    """The trail of the job, run or model version that ``values`` (the query or a body) names."""
    user = request.user
    job, run, model = values.get("job"), values.get("run"), values.get("model")
    if sum(1 for v in (job, run, model) if v) != 1:
        raise exceptions.ValidationError(
            {"job": [_('Name one of "job", "run", or "project", "model" and "version".')]}
        )
    if job:
        if not str(job).isdigit():
            raise exceptions.ValidationError({"job": [_("A job's id is a whole number.")]})
        return subjects.job_trail(user, int(job))
    if run:
        return _mlflow(subjects.run_trail, user, str(run))
    if not values.get("project") or not values.get("version"):
        raise exceptions.ValidationError(
            {"model": [_('A model version needs "project", "model" and "version".')]}
        )
    return _mlflow(subjects.version_trail, user, str(values["project"]), str(model), str(values["version"]))


SUBJECT_NAMES = {"job", "run", "project", "model", "version"}


def _only(request: Request, names: set[str]) -> None:
    """Refuse query parameters these operations do not read: never a download of something else."""
    if unknown := sorted(set(request.query_params) - names):
        raise exceptions.ValidationError({name: [_("Unknown query parameter.")] for name in unknown})


def _crate(request: Request, trail: Trail):
    kind = request.query_params.get("as", "zip")
    if kind not in ("zip", "json"):
        raise exceptions.ValidationError({"as": [_("zip or json.")]})
    data = as_data(trail)
    return crate_response(crate.build(data, request.build_absolute_uri), kind, data)


@extend_schema(
    operation_id="jobs_provenance",
    summary=_("Show a job's provenance"),
    description=_(
        "The job's code (commit or snapshot), image and digest, data versions, parameters, command, "
        "resources, GPU-hours and submitter, its run, and the model versions and reproductions that came from it."
    ),
    parameters=[JOB_ID],
    responses={200: ProvenanceSerializer, **ERRORS},
)
@api_view(["GET"])
def job_provenance(request: Request, pk: int) -> Response:
    _only(request, set())
    return Response(as_data(subjects.job_trail(request.user, pk)))


@extend_schema(
    operation_id="jobs_provenance_ro_crate",
    summary=_("Download a job's provenance as an RO-Crate"),
    description=_("The job as a CreateAction with its code, image, data, parameters and results."),
    parameters=[JOB_ID, AS],
    responses={(200, "application/zip"): CRATE, (200, "application/ld+json"): CRATE_JSON, **ERRORS},
)
@api_view(["GET"])
def job_crate(request: Request, pk: int):
    _only(request, {"as"})
    return _crate(request, subjects.job_trail(request.user, pk))


@extend_schema(
    operation_id="provenance",
    summary=_("Show the provenance of a job, run or model version"),
    description=_(
        "Name one of job, run, or project with model and version. The same answer as a job's provenance."
    ),
    parameters=SUBJECT,
    responses={
        200: ProvenanceSerializer,
        **ERRORS,
    },
)
@api_view(["GET"])
def provenance(request: Request) -> Response:
    _only(request, SUBJECT_NAMES)
    return Response(as_data(_subject(request, request.query_params)))


@extend_schema(
    operation_id="provenance_ro_crate",
    summary=_("Download the provenance of a job, run or model version as an RO-Crate"),
    description=_("Name one of job, run, or project with model and version."),
    parameters=[*SUBJECT, AS],
    responses={
        (200, "application/zip"): CRATE,
        (200, "application/ld+json"): CRATE_JSON,
        **ERRORS,
    },
)
@api_view(["GET"])
def provenance_crate(request: Request):
    _only(request, SUBJECT_NAMES | {"as"})
    return _crate(request, _subject(request, request.query_params))


def _reproduce(request: Request, trail: Trail) -> Response:
    job = subjects.job_to_reproduce(request.user, trail)
    new = actions.reproduce_job(request.user, job)
    return Response(JobSerializer(new).data, status=status.HTTP_201_CREATED)


@extend_schema(
    operation_id="jobs_reproduce",
    summary=_("Reproduce a job"),
    description=_(
        "Submit a new job with the same code, data versions, image (pinned by its digest when known), command, "
        "environment and resources; the two are linked both ways. Refused as a submission is."
    ),
    parameters=[JOB_ID],
    request=None,
    responses={201: JobSerializer, **ERRORS},  # 400: the ValidationError every body may get
)
@api_view(["POST"])
def job_reproduce(request: Request, pk: int) -> Response:
    job = subjects.visible_job(request.user, pk)
    return _reproduce(request, Trail(project=job.project, job=job))


@extend_schema(
    operation_id="reproduce",
    summary=_("Reproduce the job behind a job, run or model version"),
    description=_(
        'Body {"from": {"job": id} | {"run": id} | {"project", "model", "version"}}; answers with the new job.'
    ),
    request=ReproduceSerializer,
    responses={201: JobSerializer, **ERRORS},  # 400: the ValidationError every body may get
)
@api_view(["POST"])
def reproduce(request: Request) -> Response:
    body = ReproduceSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    wanted = body.validated_data["from"]
    if wanted.get("job"):
        job = subjects.visible_job(request.user, wanted["job"])
        return _reproduce(request, Trail(project=job.project, job=job))
    return _reproduce(request, _subject(request, wanted))


# A reproduction's refusals name the fields as a submission's do: cpu, memory_mib, gpus and
# gpu_type under "resources" (portal.api.exception_handler reads the view's error_groups).
job_reproduce.cls.error_groups = JobRequest.groups()
reproduce.cls.error_groups = JobRequest.groups()
