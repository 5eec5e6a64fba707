"""The audit log over the API: a project's events (its owners and site admins) and every event
(site admins), filtered as on the pages (``audit.AuditFilterSet``), cursor-paged, and as CSV.
Read only: the log has no write endpoint."""

from django.http import StreamingHttpResponse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request

from portal.api import FileNegotiation

from .. import audit
from ..models import AuditEvent, AuditKind


class ProjectAuditFilterSet(audit.AuditFilterSet):
    project = None  # the path names it

    class Meta(audit.AuditFilterSet.Meta):
        fields = [name for name in audit.AuditFilterSet.Meta.fields if name != "project"]


class AuditEventSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(
        slug_field="slug",
        read_only=True,
        allow_null=True,
        help_text=_("The project's slug; null for a personal token."),
    )
    actor = serializers.CharField(
        source="actor_name", help_text=_("Who made the change; empty for the portal itself.")
    )
    kind = serializers.ChoiceField(choices=AuditKind.choices, help_text=_("What the change was about."))
    action = serializers.CharField(source="verb", help_text=_("What was done, e.g. job.cancel."))
    target = serializers.CharField(help_text=_("The object changed, e.g. “job 42”; may be empty."))
    message = serializers.CharField(help_text=_("Details of the change."))
    at = serializers.DateTimeField(help_text=_("When."))

    class Meta:
        model = AuditEvent
        fields = ["id", "at", "project", "actor", "kind", "action", "target", "message"]
        read_only_fields = fields
        extra_kwargs = {"id": {"help_text": _("The event's id.")}}


class AuditPagination(CursorPagination):
    ordering = ("-at", "-pk")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request: Request) -> int:
        value = request.query_params.get(self.page_size_query_param)
        if value is not None and not (value.isdigit() and int(value) >= 1):
            raise exceptions.ValidationError(
                {self.page_size_query_param: [_("A whole number from 1 to %(max)d.") % {"max": 500}]}
            )
        return super().get_page_size(request)


PROJECT_SLUG = OpenApiParameter("slug", str, OpenApiParameter.PATH, description=_("Slug of the project."))
PAGE_SIZE = OpenApiParameter(
    "page_size",
    OpenApiTypes.INT,
    description=_("Events per page, 1 to 500 (more is taken as 500); 50 if absent."),
)
CSV_ANSWER = {(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description=_("The CSV file."))}


class _Events(GenericAPIView):
    serializer_class = AuditEventSerializer
    pagination_class = AuditPagination

    def events(self):
        raise NotImplementedError

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AuditEvent.objects.none()
        return audit.listed(self.events())


class ProjectAuditList(_Events, ListAPIView):
    filterset_class = ProjectAuditFilterSet

    def events(self):
        return audit.project_events(self.request.user, self.kwargs["slug"])[1]

    @extend_schema(
        summary=_("A project's audit log (owners)"),
        description=_(
            "Every change to the project, newest first, 50 a page (`page_size` up to 500); follow "
            "`next`. Owners and site admins only."
        ),
        parameters=[PROJECT_SLUG, PAGE_SIZE],
    )
    def get(self, request: Request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class SiteAuditList(_Events, ListAPIView):
    filterset_class = audit.AuditFilterSet

    def events(self):
        return audit.site_events(self.request.user)

    @extend_schema(
        summary=_("The whole audit log (site admins)"),
        description=_("Every change in every project, newest first, 50 a page; follow `next`."),
        parameters=[PAGE_SIZE],
    )
    def get(self, request: Request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class _Export(_Events):
    content_negotiation_class = FileNegotiation  # the CSV whatever the Accept header; errors as JSON
    pagination_class = None

    def export(self, project, events) -> StreamingHttpResponse:
        events = self.filter_queryset(events)
        response = StreamingHttpResponse(audit.csv_lines(events), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{audit.csv_filename(project)}"'
        return response


class ProjectAuditExport(_Export):
    filterset_class = ProjectAuditFilterSet

    def events(self):
        return audit.project_events(self.request.user, self.kwargs["slug"])[1]

    @extend_schema(
        summary=_("A project's audit log as CSV (owners)"),
        description=_("The same events and filters as the list, one line each, newest first."),
        operation_id="project_audit_export_csv",
        parameters=[PROJECT_SLUG],
        responses=CSV_ANSWER,
    )
    def get(self, request: Request, slug: str) -> StreamingHttpResponse:
        project, events = audit.project_events(request.user, slug)
        return self.export(project, events)


class SiteAuditExport(_Export):
    filterset_class = audit.AuditFilterSet

    def events(self):
        return audit.site_events(self.request.user)

    @extend_schema(
        summary=_("The whole audit log as CSV (site admins)"),
        description=_("The same events and filters as the list, one line each, newest first."),
        operation_id="audit_export_csv",
        responses=CSV_ANSWER,
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        return self.export(None, audit.site_events(request.user))
