"""A run's artifacts (listed, downloaded as a stream) and the comparison of runs, over the API.

The run's project is found from the run (as ``GET runs/<id>/`` does) and must be visible to the
caller (404 otherwise). Artifacts stream from MLflow through the portal, never held whole.
"""

from urllib.parse import quote

from django.http import StreamingHttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.decorators import api_view, content_negotiation_class
from rest_framework.request import Request
from rest_framework.response import Response

from portal.api import FileNegotiation
from portal.projects.models import Project

from .. import gateway
from .views import PROJECT, RUN_ID, UNAVAILABLE, _finite, _mlflow, _project

PATH = OpenApiParameter(
    "path",
    OpenApiTypes.STR,
    description=gettext_lazy("A path inside the run's artifacts; the top when absent."),
)
MAX_COMPARED = 10


class ArtifactSerializer(serializers.Serializer):
    path = serializers.CharField(help_text=gettext_lazy("Path inside the run's artifacts."))
    name = serializers.CharField(help_text=gettext_lazy("The file or folder name."))
    is_dir = serializers.BooleanField(help_text=gettext_lazy("Whether it is a folder."))
    size = serializers.IntegerField(
        allow_null=True, help_text=gettext_lazy("Size in bytes; null for a folder.")
    )


class ArtifactListSerializer(serializers.Serializer):
    path = serializers.CharField(allow_blank=True, help_text=gettext_lazy("The folder listed."))
    files = ArtifactSerializer(many=True, help_text=gettext_lazy("Folders first, then files, by path."))


class ComparedValueSerializer(serializers.Serializer):
    key = serializers.CharField(help_text=gettext_lazy("The param or metric."))
    values = serializers.ListField(
        child=serializers.JSONField(), help_text=gettext_lazy("Its value in each run, in the order asked.")
    )
    differs = serializers.BooleanField(help_text=gettext_lazy("Whether the runs' values differ."))


class CompareSerializer(serializers.Serializer):
    runs = serializers.ListField(
        child=serializers.DictField(), help_text=gettext_lazy("The runs, in the order asked.")
    )
    params = ComparedValueSerializer(many=True, help_text=gettext_lazy("Every param of the runs, by key."))
    metrics = ComparedValueSerializer(
        many=True, help_text=gettext_lazy("Every latest metric of the runs, by key; NaN is null.")
    )


def _run_project(request: Request, run_id: str) -> Project:
    if not gateway.looks_like_id(run_id):
        raise exceptions.NotFound(_("No such run."))
    slug, _experiment = _mlflow(gateway.run_project, run_id)
    if not slug:
        raise exceptions.NotFound(_("No such run."))
    return _project(request, slug)


@extend_schema(
    operation_id="runs_artifacts_list",
    summary=gettext_lazy("List a run's artifacts"),
    description=gettext_lazy("The files and folders directly under `path`; list a folder with its path."),
    parameters=[RUN_ID, PATH],
    responses={200: ArtifactListSerializer, **UNAVAILABLE},
)
@api_view(["GET"])
def artifacts(request: Request, run_id: str) -> Response:
    _run_project(request, run_id)
    path = _mlflow(gateway.clean_artifact_path, request.query_params.get("path", ""), field="path")
    files = _mlflow(gateway.list_artifacts, run_id, path, field="path")
    return Response({"path": path, "files": files})


@extend_schema(
    operation_id="runs_artifacts_download",
    summary=gettext_lazy("Download one of a run's artifacts"),
    description=gettext_lazy("The file's bytes, streamed from MLflow (`application/octet-stream`)."),
    parameters=[
        RUN_ID,
        OpenApiParameter(
            "path", OpenApiTypes.STR, required=True, description=gettext_lazy("Path of the file.")
        ),
    ],
    responses={
        (200, "application/octet-stream"): OpenApiResponse(
            OpenApiTypes.BINARY, description=gettext_lazy("The file.")
        ),
        **UNAVAILABLE,
    },
)
@api_view(["GET"])
@content_negotiation_class(FileNegotiation)  # the file whatever the Accept header; errors as JSON
def artifact_download(request: Request, run_id: str) -> StreamingHttpResponse:
    project = _run_project(request, run_id)
    run = _mlflow(gateway.get_run, project.slug, run_id)
    artifact = _mlflow(gateway.open_artifact, run, request.query_params.get("path", ""), field="path")
    response = StreamingHttpResponse(artifact.chunks(), content_type="application/octet-stream")
    if artifact.size is not None:
        response["Content-Length"] = str(artifact.size)
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(artifact.name, safe='')}"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _compared(runs: list[dict], part: str) -> list[dict]:
    keys = sorted({key for run in runs for key in run[part]})
    rows = []
    for key in keys:
        values = [run[part].get(key) for run in runs]
        if part == "metrics":
            values = [_finite(value) for value in values]
        rows.append({"key": key, "values": values, "differs": len(set(map(str, values))) > 1})
    return rows


@extend_schema(
    operation_id="runs_compare",
    summary=gettext_lazy("Compare runs of a project"),
    description=gettext_lazy(
        "2 to 10 runs side by side: each param and latest metric with its value in every run, and "
        "whether they differ. Metric histories: `GET runs/<run_id>/`."
    ),
    parameters=[
        PROJECT,
        OpenApiParameter(
            "runs",
            OpenApiTypes.STR,
            required=True,
            description=gettext_lazy("Run ids separated by commas (or the parameter repeated)."),
        ),
    ],
    responses={200: CompareSerializer, **UNAVAILABLE},
)
@api_view(["GET"])
def compare(request: Request) -> Response:
    project = _project(request)
    run_ids = list(
        dict.fromkeys(
            v.strip() for value in request.query_params.getlist("runs") for v in value.split(",") if v.strip()
        )
    )
    if not 2 <= len(run_ids) <= MAX_COMPARED:
        raise exceptions.ValidationError(
            {"runs": [_("Choose between 2 and 10 runs to compare (you chose %(n)d).") % {"n": len(run_ids)}]}
        )
    runs = _mlflow(gateway.get_runs, project.slug, run_ids, field="runs")
    if len(runs) != len(run_ids):
        raise exceptions.NotFound(_("No such run."))
    for run in runs:
        run["metrics"] = {key: _finite(value) for key, value in run["metrics"].items()}
    return Response(
        {"runs": runs, "params": _compared(runs, "params"), "metrics": _compared(runs, "metrics")}
    )
