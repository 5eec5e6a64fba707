"""The portal's URLs plus the baselines: bare Django views answering what an API view answers.

Only the bench mounts these (bench/settings.py); production URLs never include them.
"""

from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from portal.accounts.actions import authenticate_token
from portal.accounts.authentication import key_from_header
from portal.projects.models import Membership, Project

PROJECT_FIELDS = [
    "slug",
    "name",
    "description",
    "principal_investigator",
    "field_of_research",
    "expected_needs",
    "status",
    "decision_reason",
    "requested_by__username",
    "role",
    "created_at",
    "decided_at",
]


def bare_projects(request: HttpRequest) -> JsonResponse:
    """The first 50 projects the token's user sees, with the same fields, as plain JSON."""
    token = authenticate_token(key_from_header(request.headers.get("Authorization", "")) or "")
    if token is None:
        return JsonResponse({"detail": "Authentication failed."}, status=401)
    role = Membership.objects.filter(project=OuterRef("pk"), user_id=token.user_id).values("role")[:1]
    projects = Project.objects.visible_to(token.user).annotate(role=Subquery(role)).order_by("name", "pk")
    rows = list(projects.values(*PROJECT_FIELDS)[:50])
    for row in rows:
        row["requested_by"] = row.pop("requested_by__username")
    return JsonResponse({"count": projects.count(), "results": rows})


urlpatterns = [
    path("bench/projects/", bare_projects),
    path("", include("portal.urls")),
]
