from rest_framework.routers import SimpleRouter

from .views import SweepViewSet

router = SimpleRouter()
router.register("sweeps", SweepViewSet, basename="sweep")

urlpatterns = router.urls
