"""``/api/v1/projects/<slug>/snapshots/<sha256>/``: whether the project has a code snapshot (GET,
anyone who sees the project: the command line asks before it uploads, so a folder is sent once) and
its upload (PUT, members and owners: the .tar.gz as the body, checked against its name)."""

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import parsers, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.api import PayloadTooLarge
from portal.projects.access import Need, get_project_for_user

from .api import PROJECT
from .models import CodeSnapshot
from .snapshots import store_snapshot

DIGEST = OpenApiParameter(
    "digest", OpenApiTypes.STR, OpenApiParameter.PATH, description=_("The archive's SHA-256, in hexadecimal.")
)


class ArchiveParser(parsers.BaseParser):
    """The request body as bytes (a .tar.gz), read up to the site's snapshot limit."""

    media_type = "application/octet-stream"

    def parse(self, stream, media_type=None, parser_context=None) -> bytes:
        limit = settings.TALLER_SNAPSHOT_MAX_BYTES
        data = stream.read(limit + 1) if stream is not None else b""
        if len(data) > limit:
            raise PayloadTooLarge(_("A snapshot has at most %(n)s bytes here.") % {"n": limit})
        return data


class SnapshotSerializer(serializers.Serializer):
    """A code snapshot of the project."""

    digest = serializers.CharField(help_text=_("Its SHA-256."))
    size = serializers.IntegerField(help_text=_("Its size in bytes."))
    created_by = serializers.CharField(allow_null=True, help_text=_("Who uploaded it."))
    created_at = serializers.DateTimeField(help_text=_("When."))


def describe(row: CodeSnapshot) -> dict:
    return {
        "digest": row.digest,
        "size": row.size,
        "created_by": row.created_by.username if row.created_by else None,
        "created_at": serializers.DateTimeField().to_representation(row.created_at),
    }


class SnapshotView(APIView):
    parser_classes = [ArchiveParser]

    @extend_schema(
        summary=_("Whether the project has a code snapshot"),
        description=_("404 when it has none of this SHA-256: upload it with PUT."),
        parameters=[PROJECT, DIGEST],
        responses=SnapshotSerializer,
    )
    def get(self, request: Request, project_slug: str, digest: str) -> Response:
        project = get_project_for_user(request.user, project_slug, Need.VIEW)
        row = CodeSnapshot.objects.filter(project=project, digest=digest).select_related("created_by").first()
        if row is None:
            return Response({"detail": _("No such snapshot.")}, status=status.HTTP_404_NOT_FOUND)
        return Response(describe(row))

    @extend_schema(
        summary=_("Upload a code snapshot"),
        description=_(
            "The body is the folder as a .tar.gz (Content-Type: application/octet-stream), named by its SHA-256; "
            "201 when stored, 200 when the project already had it."
        ),
        parameters=[PROJECT, DIGEST],
        request={"application/octet-stream": OpenApiTypes.BINARY},
        responses={200: SnapshotSerializer, 201: SnapshotSerializer},
    )
    def put(self, request: Request, project_slug: str, digest: str) -> Response:
        project = get_project_for_user(request.user, project_slug, Need.CHANGE)
        row, created = store_snapshot(request.user, project, digest, request.data or b"")
        return Response(describe(row), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
