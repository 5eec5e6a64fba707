"""Read-only API over a project's MLflow experiments, runs and registered models.

Same rules as the pages: the project must be visible to the user (404 otherwise) and, for a
project-scoped token, be the token's project. MLflow's refusals keep their meaning: a bad
filter is a 400 naming the parameter, an unknown run a 404, MLflow down a 502.
"""

from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from clusterjobs.models import Job
from portal.projects.access import Need, get_project_for_user
from portal.projects.models import Project

from .. import gateway

MAX_PAGE = 1000
ERRORS = {
    400: OpenApiResponse(description="Bad input: a message per parameter."),
    401: OpenApiResponse(description="Not authenticated."),
    403: OpenApiResponse(description="The role does not allow this."),
    404: OpenApiResponse(description="No such project or run, or not visible."),
    502: OpenApiResponse(description="MLflow is unavailable."),
}
PROJECT = OpenApiParameter("project", OpenApiTypes.STR, required=True, description="Project slug.")
PAGE_TOKEN = OpenApiParameter(
    "page_token", OpenApiTypes.STR, description="next_page_token of the previous page."
)
MAX_RESULTS = OpenApiParameter("max_results", OpenApiTypes.INT, description=f"Page size, 1 to {MAX_PAGE}.")


class Unavailable(exceptions.APIException):
    status_code = 502
    default_code = "mlflow_unavailable"


def _project(request: Request, slug: str | None = None) -> Project:
    slug = slug if slug is not None else request.query_params.get("project", "")
    if not slug:
        raise exceptions.ValidationError({"project": [_("This parameter is required.")]})
    project = get_project_for_user(request.user, slug, Need.VIEW)
    scope = getattr(request.auth, "project_id", None)
    if scope is not None and project.pk != scope:
        raise Http404(_("No such project."))
    return project


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


@extend_schema(parameters=[PROJECT, PAGE_TOKEN, MAX_RESULTS], responses={200: OpenApiTypes.OBJECT, **ERRORS})
@api_view(["GET"])
def experiments(request: Request) -> Response:
    """One page of a project's experiments: {"experiments": [...], "next_page_token": ...}."""
    project = _project(request)
    page = _mlflow(
        gateway.list_experiments,
        project.slug,
        max_results=_max_results(request),
        page_token=request.query_params.get("page_token"),
        field="page_token",
    )
    return Response(page)


@extend_schema(
    parameters=[
        PROJECT,
        OpenApiParameter(
            "experiment", OpenApiTypes.STR, description="Experiment id; all the project's if absent."
        ),
        OpenApiParameter("filter", OpenApiTypes.STR, description="MLflow filter, e.g. metrics.acc > 0.9"),
        OpenApiParameter("order_by", OpenApiTypes.STR, many=True, description="e.g. metrics.acc DESC"),
        PAGE_TOKEN,
        MAX_RESULTS,
    ],
    responses={200: OpenApiTypes.OBJECT, **ERRORS},
)
@api_view(["GET"])
def runs(request: Request) -> Response:
    """One page of runs, paged by MLflow: {"runs": [...], "next_page_token": ...}."""
    project = _project(request)
    params = request.query_params
    max_results = _max_results(request)
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
        page_token=params.get("page_token"),
    )
    return Response(page)


@extend_schema(responses={200: OpenApiTypes.OBJECT, **ERRORS})
@api_view(["GET"])
def run(request: Request, run_id: str) -> Response:
    """A run with its params, latest metrics, tags, every metric's history and the job that made it."""
    if not gateway._looks_like_id(run_id):
        raise exceptions.NotFound(_("No such run."))
    slug, _experiment = _mlflow(gateway.run_project, run_id)
    if not slug:
        raise exceptions.NotFound(_("No such run."))
    project = _project(request, slug)
    data = _mlflow(gateway.get_run, project.slug, run_id)
    data["metric_history"] = {key: _mlflow(gateway.metric_history, run_id, key) for key in data["metrics"]}
    job = Job.objects.filter(project=project, mlflow_run_id=run_id).values_list("pk", flat=True).first()
    data["job"] = job
    data["project"] = project.slug
    return Response(data)


@extend_schema(parameters=[PROJECT, PAGE_TOKEN, MAX_RESULTS], responses={200: OpenApiTypes.OBJECT, **ERRORS})
@api_view(["GET"])
def models(request: Request) -> Response:
    """One page of a project's registered models, with aliases, tags and latest versions."""
    project = _project(request)
    page = _mlflow(
        gateway.list_models,
        project.slug,
        max_results=_max_results(request),
        page_token=request.query_params.get("page_token"),
        field="page_token",
    )
    return Response(page)
