"""The deployments API: create, list, show (with its recent traffic), update the version, roll
back, scale, stop. Visibility from ``Deployment.objects.visible_to`` (another project's is a
404), changes checked by the actions (a viewer gets a 403)."""

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from portal.projects.access import Need, can, check, find_project

from .. import actions, keys, samples
from ..models import Deployment, DeploymentKey
from .serializers import (
    CreatedKeySerializer,
    DeploymentCreateSerializer,
    DeploymentDetailSerializer,
    DeploymentSerializer,
    KeySerializer,
    NewKeySerializer,
    SampleSerializer,
    SamplingSerializer,
    ScaleSerializer,
    VersionSerializer,
)

UNAVAILABLE = {503: OpenApiResponse(description=_("MLflow is unavailable; nothing changed. Try again."))}
DEPLOYMENT_ID = OpenApiParameter(
    "id", OpenApiTypes.INT, OpenApiParameter.PATH, description=_("The deployment's id.")
)
PROJECT = OpenApiParameter(
    "project", OpenApiTypes.STR, description=_("Only this project's deployments (its slug).")
)


@extend_schema_view(
    list=extend_schema(summary=_("List deployments"), parameters=[PROJECT]),
    retrieve=extend_schema(
        summary=_("Show a deployment"),
        description=_(
            "With its traffic through the portal in the last hour: calls, errors, p50/p95/p99 latency."
        ),
        parameters=[DEPLOYMENT_ID],
    ),
)
class DeploymentViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Model deployments of the projects you can see."""

    serializer_class = DeploymentSerializer
    pagination_class = None

    def get_queryset(self):
        found = Deployment.objects.visible_to(self.request.user).select_related("project")
        slug = self.request.query_params.get("project")
        if self.action == "list" and slug:
            found = found.filter(project__slug=slug)
        return found.order_by("-created_at", "-pk")[:500] if self.action == "list" else found

    def get_serializer_class(self):
        return DeploymentDetailSerializer if self.action == "retrieve" else DeploymentSerializer

    def _answer(self, deployment: Deployment, code: int = status.HTTP_200_OK) -> Response:
        deployment = Deployment.objects.select_related("project").get(pk=deployment.pk)
        return Response(DeploymentSerializer(deployment).data, status=code)

    @extend_schema(
        summary=_("Deploy a model version"),
        description=_(
            "Serve a registered model's version, or the version an alias points at (followed when "
            "the alias moves), with replicas of the given resources, within the project's quota."
        ),
        request=DeploymentCreateSerializer,
        responses={201: DeploymentSerializer, **UNAVAILABLE},
    )
    def create(self, request: Request) -> Response:
        body = DeploymentCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        fields = dict(body.validated_data)
        project = find_project(fields.pop("project"))
        if project is None or not can(request.user, project, Need.VIEW):
            raise exceptions.ValidationError({"project": [_("No such project.")]})
        deployment = actions.create_deployment(request.user, project, **fields)
        return self._answer(deployment, status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="deployments_update_version",
        summary=_("Serve another version"),
        parameters=[DEPLOYMENT_ID],
        request=VersionSerializer,
        responses={200: DeploymentSerializer, **UNAVAILABLE},
    )
    @action(detail=True, methods=["post"], url_path="version")
    def update_version(self, request: Request, pk: str) -> Response:
        body = VersionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._answer(actions.update_version(request.user, self.get_object(), **body.validated_data))

    @extend_schema(
        summary=_("Roll back"),
        parameters=[DEPLOYMENT_ID],
        request=None,
        responses={200: DeploymentSerializer},
    )
    @action(detail=True, methods=["post"])
    def rollback(self, request: Request, pk: str) -> Response:
        return self._answer(actions.roll_back(request.user, self.get_object()))

    @extend_schema(
        summary=_("Scale"),
        parameters=[DEPLOYMENT_ID],
        request=ScaleSerializer,
        responses={200: DeploymentSerializer},
    )
    @action(detail=True, methods=["post"])
    def scale(self, request: Request, pk: str) -> Response:
        body = ScaleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._answer(actions.scale(request.user, self.get_object(), **body.validated_data))

    @extend_schema(
        summary=_("Set call sampling"),
        description=_(
            "Keep this share of the calls (request and answer bodies, cut at the site's bound) for "
            "this many days, so that drift can be examined. 0 turns sampling off (the default)."
        ),
        parameters=[DEPLOYMENT_ID],
        request=SamplingSerializer,
        responses={200: DeploymentSerializer},
    )
    @action(detail=True, methods=["post"])
    def sampling(self, request: Request, pk: str) -> Response:
        body = SamplingSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._answer(samples.set_sampling(request.user, self.get_object(), **body.validated_data))

    @extend_schema(
        summary=_("List a deployment's sampled calls"),
        description=_(
            "The latest first, paged. Inputs may be sensitive: members, owners and site admins "
            "read them; viewers are refused."
        ),
        parameters=[
            DEPLOYMENT_ID,
            OpenApiParameter(
                "since", OpenApiTypes.DATETIME, description=_("Only calls at or after this time (ISO 8601).")
            ),
        ],
        responses={200: SampleSerializer(many=True)},
    )
    @action(detail=True, methods=["get"], url_path="samples", pagination_class=PageNumberPagination)
    def samples(self, request: Request, pk: str) -> Response:
        deployment = self.get_object()
        check(request.user, deployment.project, Need.CHANGE)
        since = request.query_params.get("since")
        if since:
            since = parse_datetime(since)
            if since is None:
                raise exceptions.ValidationError({"since": [_("Not a date and time (ISO 8601).")]})
        page = self.paginate_queryset(samples.samples_of(deployment, since=since))
        return self.get_paginated_response(SampleSerializer(page, many=True).data)

    @extend_schema(
        summary=_("Stop"), parameters=[DEPLOYMENT_ID], request=None, responses={200: DeploymentSerializer}
    )
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, pk: str) -> Response:
        return self._answer(actions.stop(request.user, self.get_object()))

    @extend_schema(
        methods=["GET"],
        summary=_("List a deployment's keys"),
        parameters=[DEPLOYMENT_ID],
        responses={200: KeySerializer(many=True)},
    )
    @extend_schema(
        methods=["POST"],
        summary=_("Make a key for a deployment"),
        description=_("A key that calls this deployment only; it is shown once."),
        parameters=[DEPLOYMENT_ID],
        request=NewKeySerializer,
        responses={201: CreatedKeySerializer},
    )
    @action(detail=True, methods=["get", "post"], url_path="keys")
    def keys(self, request: Request, pk: str) -> Response:
        deployment = self.get_object()
        if request.method == "GET":
            keys.check_may_manage(request.user, deployment)
            return Response(KeySerializer(deployment.keys.all(), many=True).data)
        body = NewKeySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        key, raw = keys.create_key(request.user, deployment, body.validated_data["name"])
        return Response({**KeySerializer(key).data, "key": raw}, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary=_("Revoke a deployment's key"),
        parameters=[
            DEPLOYMENT_ID,
            OpenApiParameter(
                "key_id", OpenApiTypes.INT, OpenApiParameter.PATH, description=_("The key's id.")
            ),
        ],
        request=None,
        responses={200: KeySerializer},
    )
    @action(detail=True, methods=["post"], url_path=r"keys/(?P<key_id>[0-9]+)/revoke")
    def revoke_key(self, request: Request, pk: str, key_id: str) -> Response:
        deployment = self.get_object()
        keys.check_may_manage(request.user, deployment)
        key = (
            DeploymentKey.objects.filter(deployment=deployment, pk=key_id)
            .select_related("deployment__project")
            .first()
        )
        if key is None:
            raise exceptions.NotFound(_("No such key."))
        return Response(KeySerializer(keys.revoke_key(request.user, key)).data)
