"""The pipelines API: start a run from a definition (or only check it), list pipelines; list,
show, cancel and re-run runs. Visibility comes from ``visible_to`` (a run of a project you cannot
see is a 404), changes from ``access.check`` (a viewer gets a 403)."""

from django.db.models import Prefetch
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from portal.projects.access import Need, can, check, find_project

from .. import actions, definition
from ..models import Pipeline, PipelineRun, StepRun
from .serializers import (
    PipelineRunDetailSerializer,
    PipelineRunSerializer,
    PipelineSerializer,
    RerunSerializer,
    StartSerializer,
)

UNAVAILABLE = {503: OpenApiResponse(description=_("MLflow is unavailable; nothing changed. Try again."))}
CHANGE_REFUSAL = _("Only members and owners of the project run its pipelines.")


def _definition_and_project(user, body):
    """The definition a request gives, and its project (checked: the user may run jobs there)."""
    if not isinstance(body, dict):
        raise exceptions.ValidationError({"definition": [_("Give a JSON object.")]})
    StartSerializer(data=body).is_valid(raise_exception=True)  # the fields' types, before any lookup
    data = dict(body)
    text = data.pop("definition", None)
    if text is not None:
        if not isinstance(text, str):
            raise exceptions.ValidationError({"definition": [_("Give the definition as text.")]})
        slug = data.pop("project", None)
        if data:
            raise exceptions.ValidationError({key: [_("Give it inside the definition.")] for key in data})
        data = definition.parse(text)
        slug = slug or data.get("project")
    else:
        slug = data.get("project")
    data.pop("project", None)
    project = find_project(slug) if isinstance(slug, str) else None
    if project is None or not can(user, project, Need.VIEW):
        raise exceptions.ValidationError({"project": [_("No such project.")]})
    check(user, project, Need.CHANGE, CHANGE_REFUSAL)
    return data, project


@extend_schema_view(list=extend_schema(summary=_("List pipelines")))
class PipelineViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Pipelines (named definitions) of the projects you can see; POST runs one."""

    serializer_class = PipelineSerializer

    def get_queryset(self):
        return (
            Pipeline.objects.visible_to(self.request.user)
            .select_related("project", "created_by")
            .order_by("-updated_at", "-pk")
        )

    @extend_schema(
        summary=_("Run a pipeline"),
        description=_(
            "Checks the whole definition (cycles, unknown dependencies, duplicate names, the site's "
            "step limit, every step as a job) and starts a run; nothing is created if any of it is refused."
        ),
        request=StartSerializer,
        responses={201: PipelineRunDetailSerializer, **UNAVAILABLE},
    )
    def create(self, request: Request) -> Response:
        data, project = _definition_and_project(request.user, request.data)
        run = actions.start_pipeline(request.user, project, data)
        return Response(PipelineRunDetailSerializer(_run_detail(run.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary=_("Keep a pipeline definition without running it"),
        description=_(
            "The same checks as running it; the definition is kept under its name (to schedule it)."
        ),
        request=StartSerializer,
        responses={201: PipelineSerializer},
    )
    @action(detail=False, methods=["post"])
    def define(self, request: Request) -> Response:
        data, project = _definition_and_project(request.user, request.data)
        pipeline, _checked = actions.define_pipeline(request.user, project, data)
        pipeline = self.get_queryset().get(pk=pipeline.pk)
        return Response(PipelineSerializer(pipeline).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary=_("Check a pipeline definition"),
        description=_("The same checks as running it; nothing is created."),
        request=StartSerializer,
        responses={200: OpenApiResponse(description=_("The definition is valid."))},
    )
    @action(detail=False, methods=["post"])
    def validate(self, request: Request) -> Response:
        data, project = _definition_and_project(request.user, request.data)
        checked = definition.check(request.user, project, data)
        return Response({"valid": True, "name": checked.name, "steps": [s.name for s in checked.steps]})


def _run_detail(pk: int) -> PipelineRun:
    steps = StepRun.objects.select_related("job").order_by("position")
    return (
        PipelineRun.objects.select_related("pipeline", "project", "started_by")
        .prefetch_related(Prefetch("steps", steps))
        .get(pk=pk)
    )


@extend_schema_view(
    list=extend_schema(summary=_("List pipeline runs")),
    retrieve=extend_schema(
        summary=_("Show a pipeline run"), description=_("Its status and every step's, with their jobs.")
    ),
)
class PipelineRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Runs of pipelines in the projects you can see, newest first."""

    def get_queryset(self):
        runs = PipelineRun.objects.visible_to(self.request.user).select_related(
            "pipeline", "project", "started_by"
        )
        if slug := self.request.query_params.get("project"):
            runs = runs.filter(project__slug=slug)
        if self.action == "retrieve":
            runs = runs.prefetch_related(Prefetch("steps", StepRun.objects.select_related("job")))
        return runs

    def get_serializer_class(self):
        return PipelineRunSerializer if self.action == "list" else PipelineRunDetailSerializer

    def _run_to_change(self) -> PipelineRun:
        run = self.get_object()
        check(self.request.user, run.project, Need.CHANGE, CHANGE_REFUSAL)
        return run

    @extend_schema(
        summary=_("Cancel a pipeline run"), request=None, responses={200: PipelineRunDetailSerializer}
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        """Cancel its running steps' jobs and skip the steps not started."""
        actions.cancel_run(request.user, self._run_to_change())
        return Response(PipelineRunDetailSerializer(_run_detail(int(pk))).data)

    @extend_schema(
        summary=_("Re-run a pipeline run"),
        request=RerunSerializer,
        responses={201: PipelineRunDetailSerializer, **UNAVAILABLE},
    )
    @action(detail=True, methods=["post"])
    def rerun(self, request: Request, pk: str) -> Response:
        """A new run of the same definition: all of it, or (from_failed) the steps that did not succeed."""
        body = RerunSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        run = self._run_to_change()
        new = actions.rerun(request.user, run, from_failed=body.validated_data["from_failed"])
        return Response(PipelineRunDetailSerializer(_run_detail(new.pk)).data, status=status.HTTP_201_CREATED)
