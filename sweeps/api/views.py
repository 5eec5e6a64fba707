"""The sweeps API: list, create (JSON or YAML), show (trials and best), pause, resume, stop,
extend. Visibility comes from Sweep.objects.visible_to (a sweep of a project you cannot see is a
404), changes from ``access.check`` (a viewer gets a 403)."""

import yaml
from django.db.models import Prefetch
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import BaseParser
from rest_framework.request import Request
from rest_framework.response import Response

from clusterjobs.api.views import JobCursorPagination
from clusterjobs.request import JobRequest
from portal.api import JSONParser
from portal.projects.access import Need, can, check, find_project

from .. import actions
from ..models import Sweep, Trial
from .serializers import ExtendSerializer, SweepCreateSerializer, SweepDetailSerializer, SweepSerializer

UNAVAILABLE = {503: OpenApiResponse(description=_("MLflow is unavailable; nothing changed. Try again."))}
SWEEP_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description=_("The sweep's id."))


class YAMLParser(BaseParser):
    """A sweep file as written (``taller sweep run sweep.yaml`` may send it as it is)."""

    media_type = "application/yaml"

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = yaml.safe_load(stream.read().decode("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            raise exceptions.ParseError(_("The body is not YAML: %(error)s") % {"error": error}) from error
        if not isinstance(data, dict):
            raise exceptions.ParseError(_("A sweep is a YAML mapping."))
        return data


@extend_schema_view(
    list=extend_schema(
        summary=_("List sweeps"),
        description=_(
            "Sweeps of the projects you can see, newest first, 50 a page (`page_size` up to 500); "
            "follow `next` for the following page."
        ),
        parameters=[
            OpenApiParameter(
                "project", OpenApiTypes.STR, description=_("Only this project's sweeps (its slug).")
            )
        ],
    ),
    retrieve=extend_schema(
        summary=_("Show a sweep"),
        description=_("Its definition, status, best trial and every trial."),
        parameters=[SWEEP_ID],
    ),
)
class SweepViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Hyperparameter sweeps of the projects you can see."""

    parser_classes = [JSONParser, YAMLParser]
    pagination_class = JobCursorPagination  # newest first, `page_size` checked, like the jobs
    error_groups = JobRequest.groups()

    def get_queryset(self):
        sweeps = Sweep.objects.visible_to(self.request.user).select_related("project", "created_by")
        sweeps = sweeps.prefetch_related(
            Prefetch("trials", Trial.objects.select_related("job").order_by("number"))
        )
        if self.action == "list" and (project := self.request.query_params.get("project")):
            sweeps = sweeps.filter(project__slug=project)
        return sweeps

    def get_serializer_class(self):
        return SweepSerializer if self.action == "list" else SweepDetailSerializer

    def _to_change(self) -> Sweep:
        sweep = self.get_object()
        check(
            self.request.user,
            sweep.project,
            Need.CHANGE,
            _("Only members and owners of the project change its sweeps."),
        )
        return sweep

    def _detail(self, sweep: Sweep, code: int = status.HTTP_200_OK) -> Response:
        return Response(SweepDetailSerializer(self.get_queryset().get(pk=sweep.pk)).data, status=code)

    @extend_schema(
        summary=_("Start a sweep"),
        description=_(
            "A job spec with placeholders like {lr}, a search space, an algorithm, an objective and limits, as "
            "JSON or YAML. Answers 201 with the sweep, running."
        ),
        request=SweepCreateSerializer,
        responses={201: SweepDetailSerializer, **UNAVAILABLE},
    )
    def create(self, request: Request) -> Response:
        body = SweepCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        project = find_project(body.validated_data["project"])
        if project is None or not can(request.user, project, Need.VIEW):
            raise exceptions.ValidationError({"project": [_("No such project.")]})
        check(request.user, project, Need.CHANGE, _("Only members and owners of the project start sweeps."))
        sweep = actions.create_sweep(request.user, project, body.to_definition(request.user, project))
        return self._detail(sweep, status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="sweeps_pause",
        summary=_("Pause a sweep"),
        description=_("No new trials; running ones go on."),
        parameters=[SWEEP_ID],
        request=None,
        responses={200: SweepDetailSerializer},
    )
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str) -> Response:
        return self._detail(actions.pause_sweep(request.user, self._to_change()))

    @extend_schema(
        operation_id="sweeps_resume",
        summary=_("Resume a sweep"),
        description=_("A paused sweep starts trials again."),
        parameters=[SWEEP_ID],
        request=None,
        responses={200: SweepDetailSerializer},
    )
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str) -> Response:
        return self._detail(actions.resume_sweep(request.user, self._to_change()))

    @extend_schema(
        operation_id="sweeps_stop",
        summary=_("Stop a sweep"),
        description=_("Its running trials are cancelled and it ends."),
        parameters=[SWEEP_ID],
        request=None,
        responses={200: SweepDetailSerializer, **UNAVAILABLE},
    )
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, pk: str) -> Response:
        return self._detail(actions.stop_sweep(request.user, self._to_change()))

    @extend_schema(
        operation_id="sweeps_extend",
        summary=_("Add trials to a sweep"),
        description=_("Raises its trial limit by `trials`; a completed sweep runs again."),
        parameters=[SWEEP_ID],
        request=ExtendSerializer,
        responses={200: SweepDetailSerializer},
    )
    @action(detail=True, methods=["post"])
    def extend(self, request: Request, pk: str) -> Response:
        sweep = self._to_change()
        body = ExtendSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._detail(actions.extend_sweep(request.user, sweep, body.validated_data["trials"]))
