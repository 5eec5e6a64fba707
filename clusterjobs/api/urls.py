from django.urls import path
from rest_framework.routers import SimpleRouter

from ..provenance import api as provenance
from ..sources.api import CredentialView
from ..sources.remotes_api import RemoteView
from ..sources.snapshots_api import JobSnapshotView, SnapshotListView, SnapshotView
from .templates import TemplateViewSet
from .views import JobViewSet

router = SimpleRouter()
router.register("jobs", JobViewSet, basename="job")
router.register(r"projects/(?P<project_slug>[a-z0-9-]+)/templates", TemplateViewSet, basename="api-template")

urlpatterns = [
    path("jobs/<int:job_id>/snapshot/", JobSnapshotView.as_view(), name="api-job-snapshot"),
    *router.urls,
    path("jobs/<int:pk>/provenance/", provenance.job_provenance, name="api-job-provenance"),
    path("jobs/<int:pk>/provenance/ro-crate/", provenance.job_crate, name="api-job-ro-crate"),
    path("jobs/<int:pk>/reproduce/", provenance.job_reproduce, name="api-job-reproduce"),
    path("provenance/", provenance.provenance, name="api-provenance"),
    path("provenance/ro-crate/", provenance.provenance_crate, name="api-provenance-ro-crate"),
    path("reproductions/", provenance.reproduce, name="api-reproduce"),
    path("projects/<slug:project_slug>/git-credential/", CredentialView.as_view(), name="api-git-credential"),
    path("projects/<slug:project_slug>/snapshots/", SnapshotListView.as_view(), name="api-snapshots"),
    path("projects/<slug:project_slug>/dvc-remote/", RemoteView.as_view(), name="api-dvc-remote"),
    path("projects/<slug:project_slug>/snapshots/<str:digest>/", SnapshotView.as_view(), name="api-snapshot"),
]
