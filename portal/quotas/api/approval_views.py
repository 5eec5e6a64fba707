"""Approving a pending project over the API (site admins), with its quota in the same step.

Beside the quotas for the reason ``review_views.py`` gives: approving writes both the decision
and the quota, and quotas depend on projects, never the other way.
"""

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from portal.projects.access import get_project_for_user, require_site_admin
from portal.projects.api.serializers import ProjectSerializer
from portal.projects.api.views import project_detail

from ..approval import approve_with_quota
from .more_serializers import ApprovalSerializer
from .views import SLUG


@extend_schema(
    operation_id="projects_approve_create",
    tags=["projects"],
    summary="Approve a pending project (site admins)",
    description="With `quota`, also sets the project's quota, in the same transaction: a quota "
    "the site refuses (400) leaves the project pending.",
    parameters=[SLUG],
    request=ApprovalSerializer,
    responses={200: ProjectSerializer},
)
@api_view(["POST"])
def approve_project(request: Request, slug: str) -> Response:
    project = get_project_for_user(request.user, slug)
    require_site_admin(request.user, _("Only a site admin can approve or reject projects."))
    serializer = ApprovalSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    approve_with_quota(request.user, project, data["reason"], data.get("quota"))
    return Response(project_detail(request, project))
