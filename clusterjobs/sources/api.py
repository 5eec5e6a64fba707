"""``/api/v1/projects/<slug>/git-credential/``: whether the project has a git credential (GET,
anyone who sees the project: never its values), set it (PUT) or remove it (DELETE), owners only."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.api import StrictSerializerMixin
from portal.projects.access import Need, get_project_for_user

from . import actions
from .models import SourceCredential


class CredentialInSerializer(StrictSerializerMixin, serializers.Serializer):
    """A new credential; its values are stored encrypted and never shown back."""

    username = serializers.CharField(
        required=False,
        default="",
        allow_blank=True,
        help_text=_("User name for the token, if the forge needs one."),
    )
    token = serializers.CharField(
        required=False, default="", allow_blank=True, write_only=True, help_text=_("A deploy token (https).")
    )
    ssh_key = serializers.CharField(
        required=False,
        default="",
        allow_blank=True,
        trim_whitespace=False,
        write_only=True,
        help_text=_("A deploy key's private key (ssh)."),
    )


class CredentialOutSerializer(serializers.Serializer):
    """Whether a credential is set, and by whom: never its values."""

    set = serializers.BooleanField(help_text=_("Whether the project has a git credential."))
    kind = serializers.CharField(help_text=_("token or ssh_key; empty when none."))
    username = serializers.CharField(help_text=_("The token's user name."))
    set_by = serializers.CharField(allow_null=True, help_text=_("Who set it."))
    set_at = serializers.DateTimeField(allow_null=True, help_text=_("When."))


def describe(row: SourceCredential | None) -> dict:
    if row is None:
        return {"set": False, "kind": "", "username": "", "set_by": None, "set_at": None}
    return {
        "set": True,
        "kind": row.kind,
        "username": row.username,
        "set_by": row.set_by.username if row.set_by else None,
        "set_at": serializers.DateTimeField().to_representation(row.set_at),
    }


PROJECT = OpenApiParameter(
    "project_slug", OpenApiTypes.STR, OpenApiParameter.PATH, description=_("The project's slug.")
)


class CredentialView(APIView):
    @extend_schema(
        summary=_("Whether the project has a git credential"),
        description=_("Who set it and when, for anyone who sees the project; never its values."),
        parameters=[PROJECT],
        responses=CredentialOutSerializer,
    )
    def get(self, request: Request, project_slug: str) -> Response:
        project = get_project_for_user(request.user, project_slug, Need.VIEW)
        return Response(describe(SourceCredential.objects.filter(project=project).first()))

    @extend_schema(
        summary=_("Set the project's git credential (owners)"),
        description=_(
            "A deploy token (with its user name) for https repositories, or a deploy key for ssh ones; "
            "it replaces the one before. Stored encrypted; jobs' clones get it from a Kubernetes Secret."
        ),
        parameters=[PROJECT],
        request=CredentialInSerializer,
        responses=CredentialOutSerializer,
    )
    def put(self, request: Request, project_slug: str) -> Response:
        project = get_project_for_user(request.user, project_slug, Need.MANAGE)
        body = CredentialInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        row = actions.set_credential(request.user, project, **body.validated_data)
        return Response(describe(row))

    @extend_schema(
        summary=_("Remove the project's git credential (owners)"),
        description=_("Jobs submitted afterwards clone without it."),
        parameters=[PROJECT],
        responses={204: None},
    )
    def delete(self, request: Request, project_slug: str) -> Response:
        project = get_project_for_user(request.user, project_slug, Need.MANAGE)
        actions.clear_credential(request.user, project)
        return Response(status=status.HTTP_204_NO_CONTENT)
