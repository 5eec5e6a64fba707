"""Job templates in the API: a project's own templates (members write them) and the site's (for
every project, curated by site admins in the admin). Their fields are ``JobRequest``'s that a
template keeps (derived as the submission's are), checked by ``validation.check_request`` as a
job's would be: a template offered to a project is one the project can run today."""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from portal.api import StrictSerializerMixin
from portal.projects.access import Need, get_project_for_user
from portal.projects.models import Project

from .. import actions
from ..models import JobTemplate
from ..request import RESOURCES, JobRequest
from ..validation import check_request
from .serializers import JobResourcesOut, StringField, _field, request_fields

# The request's fields a template keeps (it has no name, secret names or experiment of its own).
COLUMNS = {f.name for f in JobTemplate._meta.concrete_fields}
KEPT = [f for f in JobRequest.fields() if (f.metadata["model"] or f.name) in COLUMNS]
KEPT_NAMES = {f.name for f in KEPT}


class JobTemplateCreateSerializer(StrictSerializerMixin, serializers.Serializer):
    """A new template of the project: a title, a description, and the job it starts."""

    def get_fields(self) -> dict[str, serializers.Field]:
        own = {
            "title": StringField(max_length=200, help_text=_("What the template is, shown on the job form.")),
            "description": StringField(required=False, default="", help_text=_("A longer note; optional.")),
        }
        asked = {name: f for name, f in request_fields().items() if name in KEPT_NAMES or name == RESOURCES}
        return own | asked

    def to_request(self, user, project: Project) -> JobRequest:
        data = dict(self.validated_data)
        title = data.pop("title").strip()
        data.pop("description")
        data |= data.pop(RESOURCES, None) or {}
        return check_request(user, project, name=title[:100] or "template", **data)


class JobTemplateSerializer(serializers.ModelSerializer):
    """A job template: its title and the job it starts."""

    project = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, help_text=_("Its project's slug; null: offered to every project.")
    )
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, help_text=_("Who made it; null for the site's.")
    )
    resources = serializers.SerializerMethodField(help_text=_("CPU, memory and GPUs the job asks."))

    class Meta:
        model = JobTemplate
        fields = ["id", "project", "title", "description", "created_by"] + [
            f.name for f in KEPT if not f.metadata["group"]
        ]
        fields.insert(fields.index("time_limit_minutes"), "resources")
        read_only_fields = fields
        extra_kwargs = {
            "id": {"help_text": _("The template's id.")},
            "title": {"help_text": _("What the template is, shown on the job form.")},
            "description": {"help_text": _("A longer note; optional.")},
        }

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        for f in KEPT:
            if not f.metadata["group"]:
                fields[f.name] = _field(f, read_only=True)
        return fields

    @extend_schema_field(JobResourcesOut)
    def get_resources(self, template: JobTemplate) -> dict:
        return {
            f.name: _field(f, read_only=True).to_representation(getattr(template, f.name))
            for f in KEPT
            if f.metadata["group"] == RESOURCES
        }


TEMPLATE_ID = OpenApiParameter(
    "id", OpenApiTypes.INT, OpenApiParameter.PATH, description=_("The template's id.")
)
PROJECT = OpenApiParameter(
    "project_slug", OpenApiTypes.STR, OpenApiParameter.PATH, description=_("The project's slug.")
)


class TemplateViewSet(viewsets.GenericViewSet):
    """Job templates of one project: everyone in it reads, members and owners write."""

    serializer_class = JobTemplateSerializer
    error_groups = {name: group for name, group in JobRequest.groups().items() if name in KEPT_NAMES}

    def project(self, need: Need) -> Project:
        return get_project_for_user(self.request.user, self.kwargs["project_slug"], need)

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return JobTemplate.objects.none()
        return JobTemplate.offered_to(self.project(Need.VIEW)).select_related("project", "created_by")

    @extend_schema(
        summary=_("List a project's job templates"),
        description=_(
            "The project's own templates and those offered to every project, by title; 50 a page. "
            "Anyone in the project reads them."
        ),
        parameters=[PROJECT],
    )
    def list(self, request: Request, project_slug: str) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(JobTemplateSerializer(page, many=True).data)

    @extend_schema(
        summary=_("Save a job template"),
        description=_(
            "Members and owners save a job as a template of the project; it is checked as a job would "
            "be (limits, quota, image), each problem a 400 on its field. Titles are unique in a project."
        ),
        parameters=[PROJECT],
        request=JobTemplateCreateSerializer,
        responses={201: JobTemplateSerializer},
    )
    def create(self, request: Request, project_slug: str) -> Response:
        project = self.project(Need.CHANGE)
        body = JobTemplateCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        asked = body.to_request(request.user, project)
        data = body.validated_data
        template = actions.save_template(request.user, project, data["title"], data["description"], asked)
        return Response(JobTemplateSerializer(template).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary=_("Show a job template"),
        description=_("One template the project is offered: its own or one for every project."),
        parameters=[PROJECT, TEMPLATE_ID],
    )
    def retrieve(self, request: Request, project_slug: str, pk: str) -> Response:
        return Response(JobTemplateSerializer(get_object_or_404(self.get_queryset(), pk=pk)).data)

    @extend_schema(
        summary=_("Delete a job template"),
        description=_(
            "Members and owners delete the project's own templates; those for every project are "
            "the site admins' (403)."
        ),
        parameters=[PROJECT, TEMPLATE_ID],
        responses={204: OpenApiResponse(description=_("Deleted."))},
    )
    def destroy(self, request: Request, project_slug: str, pk: str) -> Response:
        project = self.project(Need.CHANGE)
        actions.delete_template(request.user, get_object_or_404(JobTemplate.offered_to(project), pk=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)
