"""The jobs API: list, submit, detail, cancel, re-run, logs. Visibility comes from
Job.objects.visible_to (a job of a project you cannot see is a 404), changes from
``access.check`` (a viewer gets a 403); the actions' refusals are mapped by portal.api."""

from django.contrib.auth import get_user_model
from django.db.models import OuterRef, Prefetch, Subquery
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from portal.projects.access import Need, can, check, find_project

from .. import actions
from ..filtersets import JobFilterSet
from ..logs import DEFAULT_TAIL, MAX_TAIL, read_log
from ..models import Job, JobTransition
from ..request import JobRequest
from .serializers import ROW, JobDetailSerializer, JobSerializer, JobSubmitSerializer, LogsSerializer


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
        return jobs

    def list(self, request: Request) -> Response:
        # Value rows of the columns the answer shows (serializers.ROW), not jobs. The submitter's
        # name is a subquery, not a join: PostgreSQL then looks it up for the page's rows only,
        # after the sort, instead of for every job the user sees before it (10,000 index lookups
        # were half of the query's time, bench/bench_jobs_api.py).
        submitter = get_user_model().objects.filter(pk=OuterRef("submitter_id")).values("username")[:1]
        jobs = self.filter_queryset(self.get_queryset()).annotate(submitter_username=Subquery(submitter))
        page = self.paginate_queryset(jobs.values(*ROW))
        return self.get_paginated_response(JobSerializer(page, many=True).data)

    # portal.api.exception_handler puts the request's cpu/memory_mib/gpus/gpu_type errors under
    # "resources", as the body has them.
    error_groups = JobRequest.groups()

    def get_serializer_class(self):
        if self.action == "create":
            return JobSubmitSerializer
        if self.action in ("retrieve", "cancel", "rerun"):
            return JobDetailSerializer
        return JobSerializer

    def _job_to_change(self) -> Job:
        """The job of the URL, if the user may change it: 404 unseen, 403 for a viewer."""
        job = self.get_object()
        check(
            self.request.user,
            job.project,
            Need.CHANGE,
            _("Only members and owners of the project change its jobs."),
        )
        return job

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
        if project is None or not can(request.user, project, Need.VIEW):
            raise exceptions.ValidationError({"project": [_("No such project.")]})
        check(request.user, project, Need.CHANGE, _("Only members and owners of the project submit jobs."))
        job = actions.submit_job(request.user, project, body.to_request(request.user, project))
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
        job = self._job_to_change()
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
        new = actions.rerun_job(request.user, self._job_to_change())
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
