"""Read-only API over a project's MLflow experiments, runs and registered models.

Same rules as the pages: the project must be visible to the user (404 otherwise). MLflow's refusals keep their meaning: a bad
filter is a 400 naming the parameter, an unknown run a 404, MLflow down a 502.
"""

import math

from django.core import signing
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from portal.projects.access import get_project_for_user
from portal.projects.models import Project

from .. import gateway
from .serializers import (
    ExperimentPageSerializer,
    ModelPageSerializer,
    RunDetailSerializer,
    RunPageSerializer,
)

MAX_PAGE = 1000
UNAVAILABLE = {502: OpenApiResponse(description=gettext_lazy("MLflow is unavailable or failed."))}
PROJECT = OpenApiParameter(
    "project", OpenApiTypes.STR, required=True, description=gettext_lazy("Slug of the project.")
)
PAGE_TOKEN = OpenApiParameter(
    "page_token",
    OpenApiTypes.STR,
    description=gettext_lazy(
        "`next_page_token` of the previous page of the same list; absent for the first page."
    ),
)
MAX_RESULTS = OpenApiParameter(
    "max_results",
    OpenApiTypes.INT,
    description=gettext_lazy("Page size, 1 to 1000; 50 if absent."),
)
RUN_ID = OpenApiParameter(
    "run_id", OpenApiTypes.STR, OpenApiParameter.PATH, description=gettext_lazy("MLflow's id of the run.")
)


class Unavailable(exceptions.APIException):
    status_code = 502
    default_code = "mlflow_unavailable"


def _project(request: Request, slug: str | None = None) -> Project:
    """The project named by ``?project=`` (or ``slug``), by the API's access rules."""
    slug = slug if slug is not None else request.query_params.get("project", "")
    if not slug:
        raise exceptions.ValidationError({"project": [_("This parameter is required.")]})
    return get_project_for_user(request.user, slug)


def _mlflow(call, *args, field: str = "filter", **kwargs):
    try:
        return call(*args, **kwargs)
    except gateway.GatewayError as error:
        if error.status == 404:
            raise exceptions.NotFound(str(error)) from error
        if error.status in {400, 409}:
            raise exceptions.ValidationError({field: [str(error)]}) from error
        raise Unavailable(str(error)) from error


def _max_results(request: Request, default: int = 50) -> int:
    value = request.query_params.get("max_results", str(default))
    if not value.isdigit() or not 1 <= int(value) <= MAX_PAGE:
        raise exceptions.ValidationError(
            {"max_results": [_("A whole number from 1 to %(max)d.") % {"max": MAX_PAGE}]}
        )
    return int(value)


def _page_token(request: Request, kind: str) -> str | None:
    """MLflow's page token inside the signed one this API handed out: a tampered token is a 400.

    (MLflow itself fails with a 500 on some malformed tokens, and its token format is its own.)
    """
    value = request.query_params.get("page_token", "")
    if not value:
        return None
    try:
        return signing.loads(value, salt=f"taller.api.page_token.{kind}")
    except signing.BadSignature as error:
        raise exceptions.ValidationError(
            {"page_token": [_("Not a page token of this list: start again from its first page.")]}
        ) from error


def _signed(page: dict, kind: str) -> dict:
    token = page["next_page_token"]
    page["next_page_token"] = signing.dumps(token, salt=f"taller.api.page_token.{kind}") if token else None
    return page


def _listing(request: Request, list_page, kind: str) -> Response:
    """One page of a list of the project's MLflow objects (``kind``), paged by MLflow's token."""
    project = _project(request)
    page = _mlflow(
        list_page,
        project.slug,
        max_results=_max_results(request),
        page_token=_page_token(request, kind),
        field="page_token",
    )
    return Response(_signed(page, kind))


def _finite(value: float | None) -> float | None:
    """JSON has no NaN or infinity (MLflow logs them): such a value is answered as null."""
    return value if value is None or math.isfinite(value) else None


def _finite_metrics(run: dict) -> dict:
    run["metrics"] = {key: _finite(value) for key, value in run["metrics"].items()}
    return run


@extend_schema(
    operation_id="experiments_list",
    summary=gettext_lazy("List a project's experiments"),
    parameters=[PROJECT, PAGE_TOKEN, MAX_RESULTS],
    responses={200: ExperimentPageSerializer, **UNAVAILABLE},
)
@api_view(["GET"])
def experiments(request: Request) -> Response:
    """One page of the project's MLflow experiments, by name, paged by MLflow's page token."""
    return _listing(request, gateway.list_experiments, "experiments")


@extend_schema(
    operation_id="runs_list",
    summary=gettext_lazy("Search a project's runs"),
    parameters=[
        PROJECT,
        OpenApiParameter(
            "experiment",
            OpenApiTypes.STR,
            description=gettext_lazy("Id of one experiment of the project; all its experiments if absent."),
        ),
        OpenApiParameter(
            "filter",
            OpenApiTypes.STR,
            description=gettext_lazy(
                "An MLflow search filter, e.g. `metrics.acc > 0.9 and params.lr = '0.1'`."
            ),
        ),
        OpenApiParameter(
            "order_by",
            OpenApiTypes.STR,
            many=True,
            description=gettext_lazy(
                "Sort keys, e.g. `metrics.acc DESC`; repeat the parameter or separate them with commas."
            ),
        ),
        PAGE_TOKEN,
        MAX_RESULTS,
    ],
    responses={200: RunPageSerializer, **UNAVAILABLE},
)
@api_view(["GET"])
def runs(request: Request) -> Response:
    """One page of runs of the project's experiments, filtered and sorted by MLflow.

    A filter or sort key MLflow refuses is a 400 that names the parameter.
    """
    project = _project(request)
    params = request.query_params
    max_results = _max_results(request)
    page_token = _page_token(request, "runs")
    experiment = params.get("experiment", "")
    if experiment:
        experiment_ids = [
            _mlflow(gateway.get_experiment, project.slug, experiment, field="experiment")["experiment_id"]
        ]
    else:
        found = _mlflow(gateway.list_experiments, project.slug, max_results=MAX_PAGE)
        experiment_ids = [e["experiment_id"] for e in found["experiments"]]
        if not experiment_ids:
            return Response({"runs": [], "next_page_token": None})
    order_by = [o for value in params.getlist("order_by") for o in value.split(",") if o.strip()]
    page = _mlflow(
        gateway.search_runs,
        experiment_ids,
        filter_string=params.get("filter", ""),
        order_by=order_by,
        max_results=max_results,
        page_token=page_token,
    )
    page["runs"] = [_finite_metrics(run) for run in page["runs"]]
    return Response(_signed(page, "runs"))


@extend_schema(
    operation_id="runs_retrieve",
    summary=gettext_lazy("Show a run"),
    parameters=[RUN_ID],
    responses={200: RunDetailSerializer, **UNAVAILABLE},
)
@api_view(["GET"])
def run(request: Request, run_id: str) -> Response:
    """A run with its params, latest metrics, tags, every metric's history and the job that made it."""
    if not gateway.looks_like_id(run_id):
        raise exceptions.NotFound(_("No such run."))
    slug, _experiment = _mlflow(gateway.run_project, run_id)
    if not slug:
        raise exceptions.NotFound(_("No such run."))
    project = _project(request, slug)
    data = _finite_metrics(_mlflow(gateway.get_run, project.slug, run_id))
    data["metric_history"] = {
        key: [
            {**point, "value": _finite(point["value"])}
            for point in _mlflow(gateway.metric_history, run_id, key)
        ]
        for key in data["metrics"]
    }
    # The portal tags a job's run with the job's id (taller.* tags are the portal's alone).
    data["job"] = int(data["job_id"]) if data["job_id"].isdigit() else None
    data["project"] = project.slug
    return Response(data)


@extend_schema(
    operation_id="models_list",
    summary=gettext_lazy("List a project's registered models"),
    parameters=[PROJECT, PAGE_TOKEN, MAX_RESULTS],
    responses={200: ModelPageSerializer, **UNAVAILABLE},
)
@api_view(["GET"])
def models(request: Request) -> Response:
    """One page of the project's registered models, by name, with aliases, tags and latest versions."""
    return _listing(request, gateway.list_models, "models")
