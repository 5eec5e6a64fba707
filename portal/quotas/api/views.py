"""Quota, usage and quota requests over the API: thin views over actions.py, usage.py and admission.

The same rules as the pages: a project you cannot see is a 404; members see the quota and the
usage; owners ask for more; only site admins change a quota or decide on requests (403).
"""

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from portal.projects.access import Need, get_project_for_user, require_site_admin
from portal.projects.models import Project

from .. import actions, admission, usage
from ..models import QUOTA_FIELDS, QuotaChange, QuotaRequest
from .serializers import (
    ProjectUsageSerializer,
    QuotaChangeSerializer,
    QuotaDecisionSerializer,
    QuotaRequestCreateSerializer,
    QuotaRequestSerializer,
    QuotaSerializer,
    QuotaUpdateSerializer,
)

SLUG = OpenApiParameter("slug", str, OpenApiParameter.PATH, description=_("Slug of the project."))
REQUEST_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description=_("Id of the quota request."))


def quota_data(project: Project) -> dict:
    quota = actions.ensure_quota(project)
    held = admission.in_use(project.pk)
    budget = admission.budget_of(quota)
    queued = project.jobs.filter(status="queued").count()
    return {
        "project": project.slug,
        **{name: getattr(quota, name) for name in QUOTA_FIELDS},
        "used_gpus": held.gpus,
        "used_cpu": held.cpu,
        "used_memory_mib": held.memory_mib,
        "running_jobs": held.jobs,
        "queued_jobs": queued,
        "current_period": budget.period_label,
        "gpu_hours_used": budget.gpu_hours_used,
        "cpu_hours_used": budget.cpu_hours_used,
        "gpu_hours_reserved": budget.gpu_hours_reserved,
        "cpu_hours_reserved": budget.cpu_hours_reserved,
        "gpu_hours_remaining": budget.gpu_hours_remaining,
        "cpu_hours_remaining": budget.cpu_hours_remaining,
        "updated_at": quota.updated_at,
    }


class QuotaView(GenericAPIView):
    serializer_class = QuotaSerializer

    @extend_schema(
        summary="Show a project's quota and its current use",
        description="The limits, what the project's jobs hold now, and the period's GPU-hour and "
        "CPU-hour budget: used, reserved by jobs not yet started, and remaining.",
        parameters=[SLUG],
    )
    def get(self, request: Request, slug: str) -> Response:
        return Response(QuotaSerializer(quota_data(get_project_for_user(request.user, slug))).data)

    @extend_schema(
        summary="Change a project's quota (site admins)",
        description="Any of the quota fields and a `reason`. Lowering below current use is allowed: "
        "running jobs keep running, new ones wait.",
        request=QuotaUpdateSerializer,
        responses={200: QuotaSerializer},
        parameters=[SLUG],
    )
    def patch(self, request: Request, slug: str) -> Response:
        project = get_project_for_user(request.user, slug)
        require_site_admin(request.user, _("Only a site admin can change a quota."))
        serializer = QuotaUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = dict(serializer.validated_data)
        reason = values.pop("reason")
        if not values:
            raise ValidationError({"non_field_errors": [_("Give at least one quota field to change.")]})
        actions.update_quota(request.user, project, reason, **values)
        return Response(QuotaSerializer(quota_data(project)).data)


class UsageView(GenericAPIView):
    serializer_class = ProjectUsageSerializer

    @extend_schema(
        summary="A project's use in a period, per member and in total",
        description="GPU-hours, CPU-hours, memory and jobs, counted over the period's part of each job.",
        parameters=[
            SLUG,
            OpenApiParameter(
                "period",
                str,
                description="YYYY-MM, YYYY-Qn, YYYY-Www, YYYY, or a date YYYY-MM-DD (the quota's period "
                "around it); the quota's current period when absent.",
            ),
        ],
    )
    def get(self, request: Request, slug: str) -> Response:
        project = get_project_for_user(request.user, slug)
        quota = actions.ensure_quota(project)
        try:
            window = usage.parse_window(request.query_params.get("period", ""), quota.period)
        except ValueError as error:
            raise ValidationError({"period": [str(error)]}) from None
        members = usage.member_usage(project.pk, window)
        data = {
            "project": project.slug,
            "period": window.label,
            "start": window.start,
            "end": window.end,
            "total": usage.project_usage(project.pk, window).as_dict(),
            "members": [{"username": m["username"], **m["usage"].as_dict()} for m in members],
        }
        return Response(ProjectUsageSerializer(data).data)


class QuotaChangeList(GenericAPIView):
    serializer_class = QuotaChangeSerializer
    queryset = QuotaChange.objects.none()  # for the schema; the view reads the project's changes

    @extend_schema(
        summary="The history of a project's quota",
        description="Paged, newest first.",
        operation_id="projects_quota_changes_list",
        parameters=[SLUG],
        responses={200: QuotaChangeSerializer(many=True)},
    )
    def get(self, request: Request, slug: str) -> Response:
        project = get_project_for_user(request.user, slug)
        changes = QuotaChange.objects.filter(project=project).select_related("actor").order_by("-at", "-pk")
        page = self.paginate_queryset(changes)
        return self.get_paginated_response(QuotaChangeSerializer(page, many=True).data)


class QuotaRequestList(GenericAPIView):
    serializer_class = QuotaRequestSerializer
    queryset = QuotaRequest.objects.none()  # for the schema; the view reads the project's requests

    @extend_schema(
        summary="A project's quota requests",
        description="Paged, newest first.",
        operation_id="projects_quota_requests_list",
        parameters=[SLUG],
        responses={200: QuotaRequestSerializer(many=True)},
    )
    def get(self, request: Request, slug: str) -> Response:
        project = get_project_for_user(request.user, slug)
        requests = (
            QuotaRequest.objects.filter(project=project)
            .select_related("project", "requested_by", "decided_by")
            .order_by("-requested_at", "-pk")
        )
        page = self.paginate_queryset(requests)
        return self.get_paginated_response(QuotaRequestSerializer(page, many=True).data)

    @extend_schema(
        summary="Ask for more quota (owners)",
        description="`values` holds the fields asked for and `reason` says why; a site admin decides.",
        request=QuotaRequestCreateSerializer,
        responses={201: QuotaRequestSerializer},
        parameters=[SLUG],
    )
    def post(self, request: Request, slug: str) -> Response:
        project = get_project_for_user(request.user, slug, Need.MANAGE)
        serializer = QuotaRequestCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        created = actions.request_quota(
            request.user, project, serializer.validated_data["reason"], **serializer.validated_data["values"]
        )
        return Response(QuotaRequestSerializer(created).data, status=status.HTTP_201_CREATED)


class QuotaRequestDetail(GenericAPIView):
    serializer_class = QuotaRequestSerializer

    @extend_schema(
        summary="Show one quota request",
        description="What was asked, why, and the decision once a site admin made it.",
        parameters=[SLUG, REQUEST_ID],
    )
    def get(self, request: Request, slug: str, pk: int) -> Response:
        project = get_project_for_user(request.user, slug)
        return Response(QuotaRequestSerializer(get_object_or_404(QuotaRequest, pk=pk, project=project)).data)


class QuotaRequestDecision(GenericAPIView):
    serializer_class = QuotaRequestSerializer
    decision = "approve"

    @extend_schema(
        summary="Approve or decline a quota request (site admins)",
        description="Approving sets the quota to the requested values (recorded in its history); "
        "declining needs a reason.",
        request=QuotaDecisionSerializer,
        responses={200: QuotaRequestSerializer},
        parameters=[SLUG, REQUEST_ID],
    )
    def post(self, request: Request, slug: str, pk: int) -> Response:
        project = get_project_for_user(request.user, slug)
        require_site_admin(request.user, _("Only a site admin can decide on quota requests."))
        quota_request = get_object_or_404(QuotaRequest, pk=pk, project=project)
        serializer = QuotaDecisionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reason = serializer.validated_data["reason"]
        if self.decision == "approve":
            actions.approve_request(request.user, quota_request, reason)
        else:
            actions.decline_request(request.user, quota_request, reason)
        quota_request.refresh_from_db()
        return Response(QuotaRequestSerializer(quota_request).data)


@extend_schema_view(
    post=extend_schema(
        summary="Approve a quota request (site admins)",
        description="Sets the quota to the requested values, recorded in its history with the reason.",
    )
)
class QuotaRequestApprove(QuotaRequestDecision):
    decision = "approve"


@extend_schema_view(
    post=extend_schema(
        summary="Decline a quota request (site admins)",
        description="The quota stays as it is; a reason is required and shown to the owners.",
    )
)
class QuotaRequestDecline(QuotaRequestDecision):
    decision = "decline"
