"""The jobs API: list, submit, detail, cancel, re-run, logs. Visibility comes from
Job.objects.visible_to (a job of a project you cannot see is a 404), changes from the actions
(a viewer gets a 403)."""

from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from portal.projects.models import Project

from .. import actions
from ..filtersets import JobFilterSet
from ..logs import DEFAULT_TAIL, MAX_TAIL, read_log
from ..models import Job, JobTransition
from .serializers import (
    RESOURCE_FIELDS,
    JobDetailSerializer,
    JobSerializer,
    JobSubmitSerializer,
    LogsSerializer,
)


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = _("A service the portal needs is unavailable; try again shortly.")
    default_code = "service_unavailable"


class JobCursorPagination(CursorPagination):
    ordering = ("-created_at", "-pk")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def token_project_id(request: Request) -> int | None:
    """The project a project-scoped token (a running job's) is limited to, else None."""
    return getattr(getattr(request, "auth", None), "project_id", None)


def _nest_resource_errors(error: ValidationError) -> dict:
    """Put the actions' cpu/memory_mib/gpus/gpu_type errors under "resources", as the body has them."""
    errors = dict(error.message_dict)
    nested = {field: errors.pop(field) for field in RESOURCE_FIELDS if field in errors}
    if nested:
        errors["resources"] = nested
    return errors


class JobViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Cluster jobs of the projects you can see."""

    serializer_class = JobSerializer
    pagination_class = JobCursorPagination
    filterset_class = JobFilterSet

    def get_queryset(self):
        jobs = Job.objects.visible_to(self.request.user).select_related("project", "submitter")
        if (scope := token_project_id(self.request)) is not None:
            jobs = jobs.filter(project_id=scope)
        if self.action == "retrieve":
            jobs = jobs.prefetch_related(Prefetch("transitions", JobTransition.objects.order_by("at", "pk")))
        return jobs

    def get_serializer_class(self):
        if self.action == "create":
            return JobSubmitSerializer
        if self.action in ("retrieve", "cancel", "rerun"):
            return JobDetailSerializer
        return JobSerializer

    def _detail(self, job: Job, code: int = status.HTTP_200_OK) -> Response:
        job = self.get_queryset().prefetch_related("transitions").get(pk=job.pk)
        return Response(JobDetailSerializer(job, context=self.get_serializer_context()).data, status=code)

    @extend_schema(request=JobSubmitSerializer, responses={201: JobSerializer, 503: None})
    def create(self, request: Request) -> Response:
        body = JobSubmitSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        slug = body.validated_data["project"]
        project = Project.objects.filter(slug=slug).first()
        scope = token_project_id(request)
        if project is None or (scope is not None and project.pk != scope):
            raise exceptions.ValidationError({"project": [_("No such project.")]})
        try:
            job = actions.submit_job(request.user, project, **body.to_spec())
        except ValidationError as error:
            raise exceptions.ValidationError(_nest_resource_errors(error)) from error
        except actions.ServiceUnavailable as error:
            raise ServiceUnavailable(str(error)) from error
        # The job as submitted: queued (admission may already have moved it after the commit).
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: JobDetailSerializer, 503: None})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        """Stop the job on its backend and end it as cancelled."""
        job = self.get_object()
        try:
            actions.cancel_job(request.user, job)
        except actions.ServiceUnavailable as error:
            raise ServiceUnavailable(str(error)) from error
        return self._detail(job)

    @extend_schema(request=None, responses={201: JobSerializer, 503: None})
    @action(detail=True, methods=["post"])
    def rerun(self, request: Request, pk: str) -> Response:
        """Submit a new job with the same spec; answers with the new job."""
        job = self.get_object()
        try:
            new = actions.rerun_job(request.user, job)
        except ValidationError as error:
            raise exceptions.ValidationError(_nest_resource_errors(error)) from error
        except actions.ServiceUnavailable as error:
            raise ServiceUnavailable(str(error)) from error
        return Response(JobSerializer(new).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[
            OpenApiParameter("tail", OpenApiTypes.INT, description=_("How many last lines (1-10000)."))
        ],
        responses={200: LogsSerializer},
    )
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def logs(self, request: Request, pk: str) -> Response:
        """The last lines of the job's output; `complete` once the job ended and its log is final."""
        job = self.get_object()
        tail = serializers.IntegerField(min_value=1, max_value=MAX_TAIL)
        try:
            count = tail.run_validation(request.query_params.get("tail", DEFAULT_TAIL))
        except serializers.ValidationError as error:
            raise exceptions.ValidationError({"tail": error.detail}) from error
        lines, complete, _problem = read_log(job, count)
        return Response({"lines": lines, "complete": complete})
