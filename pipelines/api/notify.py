"""Notification API: each user's own choice per project; a project's webhooks (owners only),
with their latest deliveries and a "send a test" action."""

from datetime import timedelta

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from portal.api import StrictSerializerMixin
from portal.projects.access import Need, check, get_project_for_user

from .. import notify
from ..models import Delivery, NotificationChoice, Webhook
from .described import PROJECT_SLUG, SLUG, Described

OWNERS_ONLY = _("Only owners of the project manage its webhooks.")
LATEST = 5
MAX_WAIT_MINUTES = 60 * 24 * 7


class StrictBoolean(serializers.BooleanField):
    """true or false, and only those: DRF would take "yes", "1" or 0 too."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class Minutes(serializers.IntegerField):
    """A duration as whole minutes: an integer (not a string or a boolean), or null."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)

    def to_representation(self, value):
        return int(value.total_seconds() // 60)


class NotificationChoiceSerializer(Described, StrictSerializerMixin, serializers.ModelSerializer):
    on_end = StrictBoolean()
    on_failure = StrictBoolean()
    wait_minutes = Minutes(
        source="wait_longer_than", allow_null=True, required=False, min_value=1, max_value=MAX_WAIT_MINUTES
    )

    class Meta:
        model = NotificationChoice
        fields = ["on_end", "on_failure", "wait_minutes"]

    def validate(self, attrs: dict) -> dict:
        if attrs.get("wait_longer_than") is not None:
            attrs["wait_longer_than"] = timedelta(minutes=attrs["wait_longer_than"])
        return attrs


class WebhookDeliverySerializer(Described, serializers.ModelSerializer):
    class Meta:
        model = Delivery
        fields = ["id", "subject", "status", "attempts", "last_error", "created_at", "sent_at"]
        read_only_fields = fields


class WebhookSerializer(Described, StrictSerializerMixin, serializers.ModelSerializer):
    deliveries = serializers.SerializerMethodField(help_text=_("The latest deliveries and their outcome."))

    class Meta:
        model = Webhook
        fields = ["id", "url", "kind", "only_failures", "created_at", "deliveries"]
        read_only_fields = ["id", "created_at", "deliveries"]

    def get_deliveries(self, webhook: Webhook) -> list[dict]:
        return WebhookDeliverySerializer(webhook.deliveries.all()[:LATEST], many=True).data


class NotificationChoiceView(APIView):
    """Your own choice of emails about your jobs and pipeline runs in a project."""

    @extend_schema(
        summary=_("Your notification choice"),
        parameters=[SLUG],
        responses={200: NotificationChoiceSerializer},
    )
    def get(self, request: Request, slug: str) -> Response:
        project = get_project_for_user(request.user, slug)
        choice = NotificationChoice.objects.filter(user=request.user, project=project).first()
        return Response(NotificationChoiceSerializer(choice or NotificationChoice()).data)

    @extend_schema(
        summary=_("Set your notification choice"),
        parameters=[SLUG],
        request=NotificationChoiceSerializer,
        responses={200: NotificationChoiceSerializer},
    )
    def put(self, request: Request, slug: str) -> Response:
        project = get_project_for_user(request.user, slug)
        body = NotificationChoiceSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        choice = notify.set_choice(request.user, project, **body.validated_data)
        return Response(NotificationChoiceSerializer(choice).data)


WEBHOOK_ID = OpenApiParameter(
    "id", OpenApiTypes.INT, OpenApiParameter.PATH, description=_("The webhook's id.")
)


@extend_schema_view(
    list=extend_schema(summary=_("List a project's webhooks"), parameters=[PROJECT_SLUG]),
    create=extend_schema(
        summary=_("Add a webhook"),
        description=_("https only, to a public address; a signed one answers its secret once."),
        parameters=[PROJECT_SLUG],
    ),
    destroy=extend_schema(summary=_("Delete a webhook"), parameters=[PROJECT_SLUG, WEBHOOK_ID]),
    test=extend_schema(parameters=[PROJECT_SLUG, WEBHOOK_ID]),
    deliveries=extend_schema(parameters=[PROJECT_SLUG, WEBHOOK_ID]),
)
class WebhookViewSet(
    mixins.ListModelMixin, mixins.CreateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """A project's webhooks; only its owners see and change them."""

    serializer_class = WebhookSerializer
    pagination_class = None
    queryset = Webhook.objects.none()  # for the schema; requests get get_queryset()

    def _project(self):
        project = get_project_for_user(self.request.user, self.kwargs["project_slug"])
        check(self.request.user, project, Need.MANAGE, OWNERS_ONLY)
        return project

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Webhook.objects.none()
        return Webhook.objects.filter(project=self._project()).prefetch_related("deliveries").order_by("pk")

    def create(self, request: Request, project_slug: str) -> Response:
        project = self._project()
        body = WebhookSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        webhook = notify.add_webhook(
            request.user, project, data["url"], data.get("kind", "chat"), data.get("only_failures", False)
        )
        answer = WebhookSerializer(webhook).data
        if webhook.secret:
            answer["secret"] = webhook.secret  # shown once: the receiver checks signatures with it
        return Response(answer, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: Webhook) -> None:
        notify.delete_webhook(self.request.user, instance)

    @extend_schema(
        summary=_("Send a test notification"), request=None, responses={202: WebhookDeliverySerializer}
    )
    @action(detail=True, methods=["post"])
    def test(self, request: Request, project_slug: str, pk: str) -> Response:
        webhook = get_object_or_404(self.get_queryset(), pk=pk)
        delivery = Delivery.objects.get(pk=notify.test_delivery(request.user, webhook))
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary=_("A webhook's deliveries"),
        description=_(
            "Newest first, with each one's outcome: sent, pending (with its last error) or failed."
        ),
        responses={200: WebhookDeliverySerializer(many=True)},
    )
    @action(detail=True, methods=["get"], pagination_class=api_settings.DEFAULT_PAGINATION_CLASS)
    def deliveries(self, request: Request, project_slug: str, pk: str) -> Response:
        webhook = get_object_or_404(Webhook.objects.filter(project=self._project()), pk=pk)
        page = self.paginate_queryset(webhook.deliveries.order_by("-created_at", "-pk"))
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)
