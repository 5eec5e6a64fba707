from django.urls import path
from rest_framework.routers import SimpleRouter

from .notify import NotificationChoiceView, WebhookViewSet
from .schedules import ScheduleViewSet
from .views import PipelineRunViewSet, PipelineViewSet

router = SimpleRouter()
router.register("pipelines", PipelineViewSet, basename="pipeline")
router.register(r"projects/(?P<project_slug>[a-z0-9-]+)/webhooks", WebhookViewSet, basename="webhook")
router.register("schedules", ScheduleViewSet, basename="schedule")
router.register("pipeline-runs", PipelineRunViewSet, basename="pipeline-run")

urlpatterns = [
    *router.urls,
    path("projects/<slug:slug>/notifications/", NotificationChoiceView.as_view(), name="notification-choice"),
]
