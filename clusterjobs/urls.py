from django.urls import path

from . import views
from .provenance import views as provenance
from .sources import views as source_views

app_name = "clusterjobs"
urlpatterns = [
    path("jobs/", views.my_jobs, name="my-jobs"),
    path("jobs/<int:pk>/", views.job_detail, name="detail"),
    path("jobs/<int:pk>/log/", views.job_log, name="log"),
    path("jobs/<int:pk>/resources/", views.job_resources, name="resources"),
    path("jobs/<int:pk>/log/download/", views.job_log_download, name="log-download"),
    path("jobs/<int:pk>/cancel/", views.cancel, name="cancel"),
    path("jobs/<int:pk>/rerun/", views.rerun, name="rerun"),
    path("jobs/<int:pk>/provenance/", provenance.job_provenance, name="provenance-job"),
    path("jobs/<int:pk>/reproduce/", provenance.reproduce, name="reproduce"),
    path(
        "projects/<slug:slug>/provenance/runs/<str:run_id>/", provenance.run_provenance, name="provenance-run"
    ),
    path(
        "projects/<slug:slug>/provenance/runs/<str:run_id>/model-versions/",
        provenance.versions_part,
        name="provenance-versions-part",
    ),
    path(
        "projects/<slug:slug>/provenance/runs/<str:run_id>/details/",
        provenance.run_part,
        name="provenance-run-part",
    ),
    path(
        "projects/<slug:slug>/provenance/models/<path:name>/versions/<str:version>/",
        provenance.version_provenance,
        name="provenance-version",
    ),
    path("projects/<slug:slug>/jobs/", views.project_jobs, name="project-jobs"),
    path("projects/<slug:slug>/jobs/new/", views.submit, name="submit"),
    path("projects/<slug:slug>/git-credential/", source_views.credential, name="git-credential"),
    path("projects/<slug:slug>/dvc-remote/", source_views.dvc_remote, name="dvc-remote"),
]
