"""``/api/v1/projects/<slug>/dvc-remote/``: the project's DVC remote (GET, anyone who sees the
project: its kind and address, whether it has a key pair, never the key pair), set it (PUT) or
remove it (DELETE), owners only."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.api import StrictSerializerMixin
from portal.projects.access import Need, get_project_for_user

from . import remotes
from .api import PROJECT
from .models import DvcRemote


class RemoteInSerializer(StrictSerializerMixin, serializers.Serializer):
    """A new DVC remote; its key pair is stored encrypted and never shown back."""

    kind = serializers.ChoiceField(
        choices=DvcRemote.Kind.choices,
        help_text=_(
            "s3: an S3-compatible bucket; shared: a folder on a shared volume; local: the portal's own folder."
        ),
    )
    url = serializers.CharField(
        required=False,
        default="",
        allow_blank=True,
        help_text=_("s3://bucket/prefix for s3, an absolute path for shared; empty for local."),
    )
    endpoint_url = serializers.CharField(
        required=False,
        default="",
        allow_blank=True,
        help_text=_("The S3-compatible server's https:// address; empty for AWS."),
    )
    access_key_id = serializers.CharField(
        required=False,
        default="",
        allow_blank=True,
        write_only=True,
        help_text=_("The bucket's access key id."),
    )
    secret_access_key = serializers.CharField(
        required=False, default="", allow_blank=True, write_only=True, help_text=_("Its secret access key.")
    )


class RemoteOutSerializer(serializers.Serializer):
    """The project's DVC remote: where, and whether it has a key pair; never the key pair."""

    set = serializers.BooleanField(help_text=_("Whether the project has a DVC remote."))
    kind = serializers.CharField(help_text=_("s3, shared or local; empty when none."))
    url = serializers.CharField(help_text=_("Where DVC reads: the bucket's address or the folder."))
    endpoint_url = serializers.CharField(help_text=_("The S3-compatible server's address; empty for AWS."))
    has_credential = serializers.BooleanField(help_text=_("Whether a key pair is set (never shown)."))
    set_by = serializers.CharField(allow_null=True, help_text=_("Who set it."))
    set_at = serializers.DateTimeField(allow_null=True, help_text=_("When."))


def describe(row: DvcRemote | None) -> dict:
    if row is None:
        return {
            "set": False,
            "kind": "",
            "url": "",
            "endpoint_url": "",
            "has_credential": False,
            "set_by": None,
            "set_at": None,
        }
    return {
        "set": True,
        "kind": row.kind,
        "url": row.address(),
        "endpoint_url": row.endpoint_url,
        "has_credential": row.has_credential,
        "set_by": row.set_by.username if row.set_by else None,
        "set_at": serializers.DateTimeField().to_representation(row.set_at),
    }


def _current(project) -> DvcRemote | None:
    return DvcRemote.objects.filter(project=project).select_related("project", "set_by").first()


class RemoteView(APIView):
    @extend_schema(
        summary=_("The project's DVC remote"),
        description=_(
            "Its kind and address, who set it and when, for anyone who sees the project; never its key pair."
        ),
        parameters=[PROJECT],
        responses=RemoteOutSerializer,
    )
    def get(self, request: Request, project_slug: str) -> Response:
        project = get_project_for_user(request.user, project_slug, Need.VIEW)
        return Response(describe(_current(project)))

    @extend_schema(
        summary=_("Set the project's DVC remote (owners)"),
        description=_(
            "Where its jobs pull the DVC data their commits pin: an S3-compatible bucket (with its key pair, "
            "stored encrypted and handed to the pull step alone as a Kubernetes Secret), a folder on a volume "
            "the site shares, or on the embedded default the portal's own folder. It replaces the one before."
        ),
        parameters=[PROJECT],
        request=RemoteInSerializer,
        responses=RemoteOutSerializer,
    )
    def put(self, request: Request, project_slug: str) -> Response:
        project = get_project_for_user(request.user, project_slug, Need.MANAGE)
        body = RemoteInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        remotes.set_remote(request.user, project, **body.validated_data)
        return Response(describe(_current(project)))

    @extend_schema(
        summary=_("Remove the project's DVC remote (owners)"),
        description=_("Jobs with DVC targets are refused until one is set again."),
        parameters=[PROJECT],
        responses={204: None},
    )
    def delete(self, request: Request, project_slug: str) -> Response:
        project = get_project_for_user(request.user, project_slug, Need.MANAGE)
        remotes.clear_remote(request.user, project)
        return Response(status=status.HTTP_204_NO_CONTENT)
