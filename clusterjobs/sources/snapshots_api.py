"""A project's code snapshots over the API:

- ``projects/<slug>/snapshots/``: the list (anyone who sees the project), each with how many jobs
  name it;
- ``projects/<slug>/snapshots/<sha256>/``: whether the project has one (GET: the command line asks
  before it uploads, so a folder is sent once), its upload (PUT, members and owners: the .tar.gz as
  the body, checked against its name) and its deletion (DELETE, members and owners: 409 while a
  job names it);
- ``jobs/<id>/snapshot/``: the archive a job starts from. The one call a job's own token may make
  (its Kubernetes unpack step fetches it so), for that job alone; people who see the job may too.
"""

from django.conf import settings
from django.db.models import Count
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import authentication, generics, parsers, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.accounts.actions import authenticate_token
from portal.accounts.authentication import key_from_header
from portal.api import FileNegotiation, PayloadTooLarge
from portal.projects.access import Need, get_project_for_user

from .api import PROJECT
from .checkout import snapshot_name
from .models import CodeSnapshot
from .snapshots import SnapshotInUse, delete_snapshot, jobs_using, storage, store_snapshot

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


class SnapshotListSerializer(SnapshotSerializer):
    """A code snapshot of the project, with how many of its jobs name it."""

    jobs = serializers.IntegerField(
        help_text=_("How many of the project's jobs name it: it can be deleted at 0.")
    )


def describe(row: CodeSnapshot) -> dict:
    return {
        "digest": row.digest,
        "size": row.size,
        "created_by": row.created_by.username if row.created_by else None,
        "created_at": serializers.DateTimeField().to_representation(row.created_at),
    }


class SnapshotListView(generics.GenericAPIView):
    serializer_class = SnapshotListSerializer
    queryset = CodeSnapshot.objects.none()  # the schema's model; get() filters by project

    @extend_schema(
        summary=_("The project's code snapshots"),
        description=_("Newest first, each with how many of the project's jobs name it."),
        parameters=[PROJECT],
        responses=SnapshotListSerializer(many=True),
    )
    def get(self, request: Request, project_slug: str) -> Response:
        project = get_project_for_user(request.user, project_slug, Need.VIEW)
        rows = (
            CodeSnapshot.objects.filter(project=project)
            .select_related("created_by")
            .order_by("-created_at", "-pk")
        )
        page = self.paginate_queryset(rows)
        digests = [row.digest for row in page]
        used = dict(
            jobs_using(project, digests)
            .values("source__snapshot")
            .annotate(n=Count("pk"))
            .values_list("source__snapshot", "n")
        )
        return self.get_paginated_response(
            [{**describe(row), "jobs": used.get(row.digest, 0)} for row in page]
        )


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

    @extend_schema(
        summary=_("Delete a code snapshot (members and owners)"),
        description=_("Refused with 409 while any job of the project names it (a re-run needs it)."),
        parameters=[PROJECT, DIGEST],
        responses={204: None, 409: OpenApiResponse(description=_("Jobs still name this snapshot."))},
    )
    def delete(self, request: Request, project_slug: str, digest: str) -> Response:
        project = get_project_for_user(request.user, project_slug, Need.CHANGE)
        try:
            deleted = delete_snapshot(request.user, project, digest)
        except SnapshotInUse as error:
            message = _("%(n)s of the project's jobs name this snapshot; it is kept while any does.") % {
                "n": error.count
            }
            return Response({"detail": message}, status=status.HTTP_409_CONFLICT)
        if not deleted:
            return Response({"detail": _("No such snapshot.")}, status=status.HTTP_404_NOT_FOUND)
        return Response(status=status.HTTP_204_NO_CONTENT)


class JobTokenAuthentication(authentication.BaseAuthentication):
    """A job's own token (refused by the API's usual authentication), accepted on the job snapshot
    download alone; any other credential is left to the usual classes that follow it."""

    def authenticate(self, request):
        key = key_from_header(request.META.get("HTTP_AUTHORIZATION", ""))
        token = authenticate_token(key) if key else None
        if token is None or not token.is_workload_token():
            return None
        return token.user, token

    def authenticate_header(self, request) -> str:
        return "Token"


class JobTokenScheme(OpenApiAuthenticationExtension):
    target_class = "clusterjobs.sources.snapshots_api.JobTokenAuthentication"
    name = "jobTokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "A job's own token (`Authorization: Token <key>`, the one the portal hands the job): "
                "accepted here alone, for that job's snapshot."
            ),
        }


class JobSnapshotView(APIView):
    authentication_classes = [JobTokenAuthentication, *APIView.authentication_classes]
    content_negotiation_class = FileNegotiation  # the archive whatever the Accept header; errors as JSON

    @extend_schema(
        operation_id="jobs_snapshot",
        summary=_("Download the code snapshot a job starts from"),
        description=_(
            "The .tar.gz the job's source names. A job's own token may call this (and nothing else of "
            "the API), for its own job alone; people who see the job's project may too."
        ),
        parameters=[
            OpenApiParameter(
                "job_id", OpenApiTypes.INT, OpenApiParameter.PATH, description=_("The job's id.")
            )
        ],
        responses={
            (200, "application/gzip"): OpenApiResponse(OpenApiTypes.BINARY, description=_("The archive."))
        },
    )
    def get(self, request: Request, job_id: int) -> FileResponse:
        from ..models import Job

        token = request.auth
        if getattr(token, "workload", False):
            # A job's token: its own job only (the token it was handed at dispatch).
            job = Job.objects.filter(pk=job_id, mlflow_token=token).select_related("project").first()
            if job is None:
                raise NotFound(_("A job's token reaches only its own job's snapshot."))
        else:
            job = get_object_or_404(Job.objects.select_related("project"), pk=job_id)
            get_project_for_user(request.user, job.project.slug, Need.VIEW)
        digest = (job.source or {}).get("snapshot")
        if not digest:
            raise NotFound(_("This job does not start from a code snapshot."))
        try:
            archive = storage().open(snapshot_name(job.project.slug, digest), "rb")
        except FileNotFoundError as error:
            raise NotFound(_("The job's snapshot is no longer stored.")) from error
        response = FileResponse(
            archive, content_type="application/gzip", as_attachment=True, filename=f"{digest}.tar.gz"
        )
        response["X-Content-Type-Options"] = "nosniff"
        return response
