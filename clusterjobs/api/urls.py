from django.urls import path
from rest_framework.routers import SimpleRouter

from ..sources.api import CredentialView
from ..sources.snapshots_api import JobSnapshotView, SnapshotListView, SnapshotView
from .templates import TemplateViewSet
from .views import JobViewSet

router = SimpleRouter()
router.register("jobs", JobViewSet, basename="job")
router.register(r"projects/(?P<project_slug>[a-z0-9-]+)/templates", TemplateViewSet, basename="api-template")

urlpatterns = [
    path("jobs/<int:job_id>/snapshot/", JobSnapshotView.as_view(), name="api-job-snapshot"),
    *router.urls,
    path("projects/<slug:project_slug>/git-credential/", CredentialView.as_view(), name="api-git-credential"),
    path("projects/<slug:project_slug>/snapshots/", SnapshotListView.as_view(), name="api-snapshots"),
    path("projects/<slug:project_slug>/snapshots/<str:digest>/", SnapshotView.as_view(), name="api-snapshot"),
]
