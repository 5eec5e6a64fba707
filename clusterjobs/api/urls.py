from django.urls import path
from rest_framework.routers import SimpleRouter

from ..sources.api import CredentialView
from ..sources.remotes_api import RemoteView
from ..sources.snapshots_api import SnapshotView
from .templates import TemplateViewSet
from .views import JobViewSet

router = SimpleRouter()
router.register("jobs", JobViewSet, basename="job")
router.register(r"projects/(?P<project_slug>[a-z0-9-]+)/templates", TemplateViewSet, basename="api-template")

urlpatterns = [
    *router.urls,
    path("projects/<slug:project_slug>/git-credential/", CredentialView.as_view(), name="api-git-credential"),
    path("projects/<slug:project_slug>/dvc-remote/", RemoteView.as_view(), name="api-dvc-remote"),
    path("projects/<slug:project_slug>/snapshots/<str:digest>/", SnapshotView.as_view(), name="api-snapshot"),
]
