"""Projects and their members over the API: thin views over portal/projects/actions.py and access.py.

The same rules as the pages: a project you cannot see is a 404, a write your role does not allow
a 403; site admins see every project and alone approve or reject.
"""

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import OuterRef, QuerySet, Subquery
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from .. import actions
from ..access import Need, get_project_for_user, require_site_admin, require_unscoped, role_of, visible_to
from ..models import Membership, Project
from .serializers import (
    ROW,
    MemberCreateSerializer,
    MembershipSerializer,
    MemberUpdateSerializer,
    ProjectCreateSerializer,
    ProjectSerializer,
    RejectSerializer,
)


class ProjectFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=Project.Status.choices, help_text=_("Only projects in this status.")
    )

    class Meta:
        model = Project
        fields = ["status"]


def with_caller_role(projects: QuerySet, user) -> QuerySet:
    """Annotate each project with what the serializer shows beyond its columns, in the same query.

    Both are subqueries, not joins: a list's COUNT drops the annotations it does not need but
    keeps their joins, and a join to the users for the requester's name made PostgreSQL's COUNT
    of a page of GET /api/v1/projects/ take 2.5 ms instead of 1.5 (and the page's own select
    2.4 ms instead of 1.4), bench/bench_projects_api.py."""
    role = Membership.objects.filter(project=OuterRef("pk"), user_id=user.pk).values("role")[:1]
    requester = get_user_model().objects.filter(pk=OuterRef("requested_by_id")).values("username")[:1]
    return projects.annotate(caller_role=Subquery(role), requested_by_username=Subquery(requester))


def project_detail(request: Request, project: Project) -> dict:
    project.caller_role = role_of(request.user, project)
    project.requested_by_username = project.requested_by.username
    return ProjectSerializer(project).data


SLUG = OpenApiParameter("slug", str, OpenApiParameter.PATH, description=_("Slug of the project."))
PROJECT_SLUG = OpenApiParameter(
    "project_slug", str, OpenApiParameter.PATH, description=_("Slug of the project.")
)
USERNAME = OpenApiParameter("username", str, OpenApiParameter.PATH, description=_("Username of the member."))


@extend_schema_view(
    retrieve=extend_schema(parameters=[SLUG]),
    reject=extend_schema(parameters=[SLUG]),
    archive=extend_schema(parameters=[SLUG]),
)
class ProjectViewSet(viewsets.GenericViewSet):
    serializer_class = ProjectSerializer
    filterset_class = ProjectFilter
    lookup_field = "slug"
    lookup_value_regex = "[a-z0-9-]+"

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return Project.objects.none()
        return with_caller_role(visible_to(self.request.user), self.request.user).order_by("name", "pk")

    @extend_schema(summary="List the projects you can see", description="Paged, 50 per page, by name.")
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()).values(*ROW))
        return self.get_paginated_response(ProjectSerializer(page, many=True).data)

    @extend_schema(
        summary="Register a project",
        description="The project waits, pending, for a site admin; you become its owner.",
        request=ProjectCreateSerializer,
        responses={201: ProjectSerializer},
    )
    def create(self, request: Request) -> Response:
        require_unscoped(request.user)
        serializer = ProjectCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = actions.register_project(request.user, **serializer.validated_data)
        return Response(project_detail(request, project), status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Show a project",
        description="Its registration, status, the site admin's decision and your role in it.",
    )
    def retrieve(self, request: Request, slug: str) -> Response:
        return Response(project_detail(request, get_project_for_user(request.user, slug)))

    def _decision(self, request: Request, slug: str, serializer_class, decide) -> Response:
        project = get_project_for_user(request.user, slug)
        require_site_admin(request.user, _("Only a site admin can approve or reject projects."))
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        decide(request.user, project, serializer.validated_data)
        return Response(project_detail(request, project))

    @extend_schema(
        summary="Archive a project (owners)",
        description="An archived project runs no new jobs; its runs, models and history stay readable. "
        "Archiving twice is a 400.",
        request=None,
        responses={200: ProjectSerializer},
    )
    @action(detail=True, methods=["post"])
    def archive(self, request: Request, slug: str) -> Response:
        project = get_project_for_user(request.user, slug, Need.MANAGE)
        return Response(project_detail(request, actions.archive_project(request.user, project)))

    @extend_schema(
        summary="Reject a pending project (site admins)",
        description="A reason is required; it is shown to the project's owner.",
        request=RejectSerializer,
        responses={200: ProjectSerializer},
    )
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, slug: str) -> Response:
        return self._decision(
            request,
            slug,
            RejectSerializer,
            lambda admin, project, data: actions.reject_project(admin, project, data["reason"]),
        )


@extend_schema_view(
    list=extend_schema(parameters=[PROJECT_SLUG]),
    create=extend_schema(parameters=[PROJECT_SLUG]),
    retrieve=extend_schema(parameters=[PROJECT_SLUG, USERNAME]),
    partial_update=extend_schema(parameters=[PROJECT_SLUG, USERNAME]),
    destroy=extend_schema(parameters=[PROJECT_SLUG, USERNAME]),
)
class MemberViewSet(viewsets.GenericViewSet):
    """Members of one project: everyone in it reads, owners (and site admins) write."""

    serializer_class = MembershipSerializer
    lookup_field = "username"
    lookup_value_regex = r"[\w.@+-]+"

    def project(self, need: Need) -> Project:
        return get_project_for_user(self.request.user, self.kwargs["project_slug"], need)

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return Membership.objects.none()
        return (
            Membership.objects.filter(project=self.project(Need.VIEW))
            .select_related("user")
            .order_by("user__username")
        )

    def _membership(self, need: Need) -> Membership:
        project = self.project(need)
        return get_object_or_404(
            Membership.objects.select_related("user", "project"),
            project=project,
            user__username=self.kwargs["username"],
        )

    @extend_schema(summary="List a project's members", description="Paged, 50 per page, by username.")
    def list(self, request: Request, project_slug: str) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(MembershipSerializer(page, many=True).data)

    @extend_schema(
        summary="Add a member (owners)",
        request=MemberCreateSerializer,
        responses={201: MembershipSerializer},
    )
    def create(self, request: Request, project_slug: str) -> Response:
        project = self.project(Need.MANAGE)
        serializer = MemberCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        membership = actions.add_member(request.user, project, data["user"], data["role"])
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Show one member")
    def retrieve(self, request: Request, project_slug: str, username: str) -> Response:
        return Response(MembershipSerializer(self._membership(Need.VIEW)).data)

    @extend_schema(
        summary="Change a member's role (owners)",
        request=MemberUpdateSerializer,
        responses={200: MembershipSerializer},
    )
    def partial_update(self, request: Request, project_slug: str, username: str) -> Response:
        membership = self._membership(Need.MANAGE)
        serializer = MemberUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = actions.change_role(request.user, membership, serializer.validated_data["role"])
        return Response(MembershipSerializer(membership).data)

    @extend_schema(
        summary="Remove a member (owners)",
        description="The last owner cannot be removed (400).",
        responses={204: OpenApiResponse(description="Removed.")},
    )
    def destroy(self, request: Request, project_slug: str, username: str) -> Response:
        actions.remove_member(request.user, self._membership(Need.MANAGE))
        return Response(status=status.HTTP_204_NO_CONTENT)
