"""A project's registered models over the API: one model, its versions, and their aliases and tags
(read by members and viewers, changed by members and owners through experiments/actions.py).

Models are named in URLs by their name inside the project (``classifier`` for MLflow's
``genomics.classifier``), as on the pages. MLflow's refusals keep their meaning (see views.py).
"""

from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from portal.api import StrictSerializerMixin
from portal.projects.access import Need, get_project_for_user
from portal.projects.models import Project

from .. import actions, gateway
from .serializers import ModelVersionSerializer, RegisteredModelSerializer
from .views import MAX_RESULTS, PAGE_TOKEN, UNAVAILABLE, _max_results, _mlflow, _page_token, _signed


def _path(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.STR, OpenApiParameter.PATH, description=description)


SLUG = _path("slug", gettext_lazy("Slug of the project."))
NAME = _path("name", gettext_lazy("Name of the model inside the project, e.g. classifier."))
VERSION = _path("version", gettext_lazy("Version number."))
ALIAS = _path("alias", gettext_lazy("The alias, e.g. champion."))
KEY = _path("key", gettext_lazy("The tag's key."))
CHANGED = {204: OpenApiResponse(description=gettext_lazy("Done.")), **UNAVAILABLE}


class VersionPageSerializer(serializers.Serializer):
    versions = ModelVersionSerializer(many=True, help_text=gettext_lazy("The versions of this page."))
    next_page_token = serializers.CharField(
        allow_null=True,
        help_text=gettext_lazy("Pass as `page_token` for the next page; null on the last page."),
    )


class AliasSerializer(StrictSerializerMixin, serializers.Serializer):
    version = serializers.CharField(max_length=20, help_text=gettext_lazy("The version the alias points at."))


class TagValueSerializer(StrictSerializerMixin, serializers.Serializer):
    value = serializers.CharField(
        max_length=5000, allow_blank=True, help_text=gettext_lazy("The tag's value (may be empty).")
    )


def _model(request: Request, slug: str, name: str, need: Need = Need.VIEW) -> tuple[Project, str]:
    project = get_project_for_user(request.user, slug, need)
    return project, gateway.model_name(project.slug, name)


def _with_jobs(project: Project, versions: list[dict]) -> list[dict]:
    """Each version with the id of the job whose run it came from: the ``taller.job_id`` tag the
    portal puts on a version it registers (only the portal sets it; the job's page checks who may
    see the job). ``None`` for a version registered some other way."""
    for version in versions:
        job = (version.get("tags") or {}).get(gateway.JOB_TAG, "")
        version["job"] = int(job) if job.isdigit() else None
    return versions


@extend_schema(
    operation_id="models_retrieve",
    summary=gettext_lazy("Show a registered model"),
    description=gettext_lazy("Its description, tags, aliases (alias to version) and latest versions."),
    parameters=[SLUG, NAME],
    responses={200: RegisteredModelSerializer, **UNAVAILABLE},
)
@api_view(["GET"])
def model(request: Request, slug: str, name: str) -> Response:
    project, full_name = _model(request, slug, name)
    return Response(_mlflow(gateway.get_model, project.slug, full_name))


@extend_schema(
    operation_id="models_versions_list",
    summary=gettext_lazy("List a registered model's versions"),
    description=gettext_lazy(
        "Newest first, with their aliases, tags, source run and the job that made it; paged by page token."
    ),
    parameters=[SLUG, NAME, PAGE_TOKEN, MAX_RESULTS],
    responses={200: VersionPageSerializer, **UNAVAILABLE},
)
@api_view(["GET"])
def versions(request: Request, slug: str, name: str) -> Response:
    project, full_name = _model(request, slug, name)
    page = _mlflow(
        gateway.list_versions,
        project.slug,
        full_name,
        max_results=_max_results(request),
        page_token=_page_token(request, "versions"),
        field="page_token",
    )
    _with_jobs(project, page["versions"])
    return Response(_signed(page, "versions"))


@extend_schema(
    operation_id="models_version_retrieve",
    summary=gettext_lazy("Show one version of a registered model"),
    description=gettext_lazy("Its aliases, tags, status, source run and the job that made it."),
    parameters=[SLUG, NAME, VERSION],
    responses={200: ModelVersionSerializer, **UNAVAILABLE},
)
@api_view(["GET"])
def version(request: Request, slug: str, name: str, version: str) -> Response:
    project, full_name = _model(request, slug, name)
    data = _mlflow(gateway.get_version, project.slug, full_name, version, field="version")
    return Response(_with_jobs(project, [data])[0])


@extend_schema(
    methods=["PUT"],
    operation_id="models_alias_set",
    summary=gettext_lazy("Point a model alias at a version (members)"),
    description=gettext_lazy("Creates the alias or moves it; recorded in the project's audit log."),
    parameters=[SLUG, NAME, ALIAS],
    request=AliasSerializer,
    responses=CHANGED,
)
@extend_schema(
    methods=["DELETE"],
    operation_id="models_alias_delete",
    summary=gettext_lazy("Remove a model alias (members)"),
    description=gettext_lazy("The versions stay; only the alias goes."),
    parameters=[SLUG, NAME, ALIAS],
    responses=CHANGED,
)
@api_view(["PUT", "DELETE"])
def alias(request: Request, slug: str, name: str, alias: str) -> Response:
    project, full_name = _model(request, slug, name, Need.CHANGE)
    if request.method == "PUT":
        body = AliasSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        _mlflow(
            actions.set_model_alias,
            request.user,
            project,
            full_name,
            body.validated_data["version"],
            alias,
            field="version",
        )
    else:
        _mlflow(actions.delete_model_alias, request.user, project, full_name, alias, field="alias")
    return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(
    methods=["PUT"],
    operation_id="models_version_tag_set",
    summary=gettext_lazy("Set a tag on a model version (members)"),
    description=gettext_lazy("Keys starting with 'taller.' are the portal's own (400)."),
    parameters=[SLUG, NAME, VERSION, KEY],
    request=TagValueSerializer,
    responses=CHANGED,
)
@extend_schema(
    methods=["DELETE"],
    operation_id="models_version_tag_delete",
    summary=gettext_lazy("Remove a tag from a model version (members)"),
    description=gettext_lazy("Keys starting with 'taller.' are the portal's own (400)."),
    parameters=[SLUG, NAME, VERSION, KEY],
    responses=CHANGED,
)
@api_view(["PUT", "DELETE"])
def version_tag(request: Request, slug: str, name: str, version: str, key: str) -> Response:
    project, full_name = _model(request, slug, name, Need.CHANGE)
    if request.method == "PUT":
        body = TagValueSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        value = body.validated_data["value"]
        _mlflow(actions.set_version_tag, request.user, project, full_name, version, key, value, field="key")
    else:
        _mlflow(actions.delete_version_tag, request.user, project, full_name, version, key, field="key")
    return Response(status=status.HTTP_204_NO_CONTENT)
