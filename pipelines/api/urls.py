from rest_framework.routers import SimpleRouter

from .schedules import ScheduleViewSet
from .views import PipelineRunViewSet, PipelineViewSet

router = SimpleRouter()
router.register("pipelines", PipelineViewSet, basename="pipeline")
router.register("schedules", ScheduleViewSet, basename="schedule")
router.register("pipeline-runs", PipelineRunViewSet, basename="pipeline-run")

urlpatterns = router.urls
