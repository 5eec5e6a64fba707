from rest_framework.routers import SimpleRouter

from .views import MemberViewSet, ProjectViewSet

router = SimpleRouter()
router.register("projects", ProjectViewSet, basename="api-project")
router.register(r"projects/(?P<project_slug>[a-z0-9-]+)/members", MemberViewSet, basename="api-member")

urlpatterns = router.urls
