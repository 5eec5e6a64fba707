from rest_framework.routers import SimpleRouter

from .templates import TemplateViewSet
from .views import JobViewSet

router = SimpleRouter()
router.register("jobs", JobViewSet, basename="job")
router.register(r"projects/(?P<project_slug>[a-z0-9-]+)/templates", TemplateViewSet, basename="api-template")

urlpatterns = router.urls
