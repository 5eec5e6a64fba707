"""The jobs API: list, submit, detail, cancel, re-run, logs. Visibility comes from
Job.objects.visible_to (a job of a project you cannot see is a 404), changes from the actions
(a viewer gets a 403)."""

from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from portal.projects.access import find_project

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

    def get_page_size(self, request: Request) -> int:
        # DRF falls back to the default for a page_size that is not a number: a 400 says so instead.
        value = request.query_params.get(self.page_size_query_param)
        if value is not None and not (value.isdigit() and int(value) >= 1):
            raise exceptions.ValidationError(
                {
                    self.page_size_query_param: [
                        _("A whole number from 1 to %(max)d.") % {"max": self.max_page_size}
                    ]
                }
            )
        return super().get_page_size(request)


def _nest_resource_errors(error: ValidationError) -> dict:
    """Put the actions' cpu/memory_mib/gpus/gpu_type errors under "resources", as the body has them."""
    if not hasattr(error, "error_dict"):
        return {"non_field_errors": error.messages}
    errors = dict(error.message_dict)
    nested = {field: errors.pop(field) for field in RESOURCE_FIELDS if field in errors}
    if nested:
        errors["resources"] = nested
    return errors


LIST_COLUMNS = [
    field.name for field in Job._meta.concrete_fields if field.name not in {"final_log", "mlflow_token"}
]
UNAVAILABLE = {
    503: OpenApiResponse(description=_("MLflow or the cluster is unavailable; nothing changed. Try again."))
}
JOB_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description=_("The job's id."))


@extend_schema_view(
    list=extend_schema(
        summary=_("List jobs"),
        parameters=[
            OpenApiParameter(
                "page_size",
                OpenApiTypes.INT,
                description=_("Jobs per page, 1 to 500 (more is taken as 500); 50 if absent."),
            )
        ],
        description=_(
            "Jobs of the projects you can see, newest first, 50 a page (`page_size` up to 500); "
            "follow `next` for the following page."
        ),
    ),
    retrieve=extend_schema(
        summary=_("Show a job"),
        description=_("Its spec, status and reason, timestamps, exit code, MLflow run and history."),
        parameters=[JOB_ID],
    ),
)
class JobViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Cluster jobs of the projects you can see."""

    serializer_class = JobSerializer
    pagination_class = JobCursorPagination
    filterset_class = JobFilterSet

    def get_queryset(self):
        jobs = Job.objects.visible_to(self.request.user).select_related("project", "submitter")
        if self.action == "retrieve":
            jobs = jobs.prefetch_related(Prefetch("transitions", JobTransition.objects.order_by("at", "pk")))
        elif self.action == "list":
            # A page needs neither the kept logs nor the project's and submitter's other columns.
            jobs = jobs.only(*LIST_COLUMNS, "project__slug", "submitter__username")
        return jobs

    def handle_exception(self, exc: Exception) -> Response:
        """The actions' domain errors, mapped once for every operation: a broken rule is a 400 (the
        resource errors under "resources", as the body has them), a service that is down a 503."""
        if isinstance(exc, ValidationError):
            exc = exceptions.ValidationError(_nest_resource_errors(exc))
        elif isinstance(exc, actions.ServiceUnavailable):
            exc = ServiceUnavailable(str(exc))
        return super().handle_exception(exc)

    def get_serializer_class(self):
        if self.action == "create":
            return JobSubmitSerializer
        if self.action in ("retrieve", "cancel", "rerun"):
            return JobDetailSerializer
        return JobSerializer

    def _detail(self, job: Job, code: int = status.HTTP_200_OK) -> Response:
        job = self.get_queryset().prefetch_related("transitions").get(pk=job.pk)
        return Response(JobDetailSerializer(job, context=self.get_serializer_context()).data, status=code)

    @extend_schema(
        summary=_("Submit a job"),
        description=_(
            "Answers 201 with the job, queued; it runs when the project's quota allows. You must be a "
            "member or owner of an active project."
        ),
        request=JobSubmitSerializer,
        responses={201: JobSerializer, **UNAVAILABLE},
    )
    def create(self, request: Request) -> Response:
        body = JobSubmitSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        slug = body.validated_data["project"]
        project = find_project(slug)
        if project is None:
            raise exceptions.ValidationError({"project": [_("No such project.")]})
        job = actions.submit_job(request.user, project, **body.to_spec())
        # The job as submitted: queued (admission may already have moved it after the commit).
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="jobs_cancel",
        summary=_("Cancel a job"),
        parameters=[JOB_ID],
        request=None,
        responses={200: JobDetailSerializer, **UNAVAILABLE},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        """Stop the job on its backend and end it as cancelled."""
        job = self.get_object()
        actions.cancel_job(request.user, job)
        return self._detail(job)

    @extend_schema(
        operation_id="jobs_rerun",
        summary=_("Re-run a job"),
        parameters=[JOB_ID],
        request=None,
        responses={201: JobSerializer, **UNAVAILABLE},
    )
    @action(detail=True, methods=["post"])
    def rerun(self, request: Request, pk: str) -> Response:
        """Submit a new job with the same spec; answers with the new job."""
        new = actions.rerun_job(request.user, self.get_object())
        return Response(JobSerializer(new).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="jobs_logs",
        summary=_("Read a job's log"),
        parameters=[
            JOB_ID,
            OpenApiParameter("tail", OpenApiTypes.INT, description=_("How many last lines (1-10000).")),
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
