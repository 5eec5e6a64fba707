"""Member caps, the quota preview and the site admins' usage overview (and its CSV) over the API.

Thin views over ``actions.set_member_cap``, ``admission.preview``, ``usage`` and ``export``, with
the pages' rules: members see the caps, owners (and site admins) set them; whoever may submit
previews; only site admins see every project's use.
"""

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from portal.api import FileNegotiation
from portal.projects.access import Need, get_project_for_user, require_site_admin
from portal.projects.models import Membership, Project

from .. import actions, admission, usage
from ..export import usage_csv_rows
from .more_serializers import (
    MemberCapSerializer,
    MemberCapUpdateSerializer,
    PreviewQuerySerializer,
    PreviewSerializer,
    ProjectOverviewSerializer,
)
from .views import SLUG

USERNAME = OpenApiParameter("username", str, OpenApiParameter.PATH, description=_("Username of the member."))
PERIOD = OpenApiParameter(
    "period",
    str,
    description="YYYY-MM, YYYY-Qn, YYYY-Www, YYYY, or a date YYYY-MM-DD (the month around it); "
    "the current month when absent.",
)


def _cap_data(membership: Membership) -> dict:
    cap = getattr(membership, "quota_cap", None)
    return {
        "username": membership.user.username,
        "role": membership.role,
        "max_gpus": cap.max_gpus if cap else None,
        "max_running_jobs": cap.max_running_jobs if cap else None,
    }


def _window(request: Request, default_period: str) -> usage.Window:
    try:
        return usage.parse_window(request.query_params.get("period", ""), default_period)
    except ValueError as error:
        raise ValidationError({"period": [str(error)]}) from None


class MemberCapList(GenericAPIView):
    serializer_class = MemberCapSerializer
    queryset = Membership.objects.none()  # for the schema; the view reads the project's members

    @extend_schema(
        summary="List a project's members with their caps",
        description="Paged, 50 per page, by username. A member without a cap has null values.",
        operation_id="projects_quota_caps_list",
        parameters=[SLUG],
        responses={200: MemberCapSerializer(many=True)},
    )
    def get(self, request: Request, slug: str) -> Response:
        project = get_project_for_user(request.user, slug)
        members = (
            Membership.objects.filter(project=project)
            .select_related("user", "quota_cap")
            .order_by("user__username", "pk")
        )
        page = self.paginate_queryset(members)
        return self.get_paginated_response(MemberCapSerializer([_cap_data(m) for m in page], many=True).data)


class MemberCapDetail(GenericAPIView):
    serializer_class = MemberCapSerializer

    def _membership(self, slug: str, username: str, need: Need) -> Membership:
        project = get_project_for_user(self.request.user, slug, need)
        return get_object_or_404(
            Membership.objects.select_related("user", "project", "quota_cap"),
            project=project,
            user__username=username,
        )

    @extend_schema(
        summary="Show one member's cap",
        description="Null values: no cap of that kind.",
        parameters=[SLUG, USERNAME],
    )
    def get(self, request: Request, slug: str, username: str) -> Response:
        return Response(MemberCapSerializer(_cap_data(self._membership(slug, username, Need.VIEW))).data)

    @extend_schema(
        summary="Set or remove one member's cap (owners)",
        description="Both values null (or absent) removes the cap; the cap applies inside the "
        "project's quota, to the member's next jobs.",
        request=MemberCapUpdateSerializer,
        responses={200: MemberCapSerializer},
        parameters=[SLUG, USERNAME],
    )
    def put(self, request: Request, slug: str, username: str) -> Response:
        membership = self._membership(slug, username, Need.MANAGE)
        serializer = MemberCapUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        actions.set_member_cap(request.user, membership, **serializer.validated_data)
        membership = self._membership(slug, username, Need.MANAGE)  # the cap as stored now
        return Response(MemberCapSerializer(_cap_data(membership)).data)


class QuotaPreview(GenericAPIView):
    serializer_class = PreviewSerializer

    @extend_schema(
        summary="Preview what a job of these resources would do now",
        description="Whether it would start, wait for quota or be rejected, and what it would cost of "
        "the period's budget. Reads only: nothing is held. Members and owners.",
        parameters=[SLUG, PreviewQuerySerializer],
    )
    def get(self, request: Request, slug: str) -> Response:
        project = get_project_for_user(request.user, slug, Need.CHANGE)
        query = PreviewQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        quota = actions.ensure_quota(project)
        result = admission.preview(quota, submitter=request.user, **query.validated_data)
        if not project.is_active():
            result["outcome"] = "rejected"
            result["errors"] = {"project": [_("Only an active project runs jobs.")]}
        budget = result.pop("budget")
        data = {
            **result,
            "period": budget.period_label,
            "gpu_hours_remaining": budget.gpu_hours_remaining,
            "cpu_hours_remaining": budget.cpu_hours_remaining,
        }
        return Response(PreviewSerializer(data).data)


class UsageOverview(GenericAPIView):
    serializer_class = ProjectOverviewSerializer
    queryset = Project.objects.none()  # for the schema

    @extend_schema(
        summary="Every project's use in a period (site admins)",
        description="Paged, 50 per page, by project name: what each project's jobs used in the "
        "period against its budget.",
        operation_id="usage_overview_list",
        parameters=[PERIOD],
        responses={200: ProjectOverviewSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        require_site_admin(request.user, _("Only site admins see every project's use."))
        window = _window(request, "monthly")
        page = self.paginate_queryset(Project.objects.select_related("quota").order_by("name", "pk"))
        used = usage.projects_usage([p.pk for p in page], window)
        rows = []
        for project in page:
            quota = getattr(project, "quota", None)
            rows.append(
                {
                    "project": project.slug,
                    "name": project.name,
                    "status": project.status,
                    "usage": used[project.pk].as_dict(),
                    "gpu_hours_per_period": quota.gpu_hours_per_period if quota else None,
                    "cpu_hours_per_period": quota.cpu_hours_per_period if quota else None,
                    "quota_period": quota.period if quota else None,
                }
            )
        response = self.get_paginated_response(ProjectOverviewSerializer(rows, many=True).data)
        response.data["period"] = window.label
        return response


class UsageExport(GenericAPIView):
    content_negotiation_class = FileNegotiation  # the CSV whatever the Accept header; errors as JSON

    @extend_schema(
        summary="Every project's use in a period as CSV (site admins)",
        description="One line per project, for reports: the same file as the usage overview page's export.",
        operation_id="usage_export_csv",
        parameters=[PERIOD],
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The CSV file.")},
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        require_site_admin(request.user, _("Only site admins see every project's use."))
        window = _window(request, "monthly")
        response = StreamingHttpResponse(usage_csv_rows(window), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="taller-usage-{window.label}.csv"'
        return response
