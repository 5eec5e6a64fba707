from django.urls import path

from . import registry_views, run_views, views

urlpatterns = [
    path("experiments/", views.experiments, name="api-experiments"),
    path("runs/", views.runs, name="api-runs"),
    path("runs/compare/", run_views.compare, name="api-runs-compare"),
    path("runs/<str:run_id>/", views.run, name="api-run"),
    path("runs/<str:run_id>/artifacts/", run_views.artifacts, name="api-run-artifacts"),
    path("runs/<str:run_id>/artifacts/download/", run_views.artifact_download, name="api-run-artifact"),
    path("models/", views.models, name="api-models"),
    path(
        "projects/<slug:slug>/models/<path:name>/versions/<str:version>/tags/<path:key>/",
        registry_views.version_tag,
        name="api-model-version-tag",
    ),
    path(
        "projects/<slug:slug>/models/<path:name>/versions/<str:version>/",
        registry_views.version,
        name="api-model-version",
    ),
    path(
        "projects/<slug:slug>/models/<path:name>/versions/",
        registry_views.versions,
        name="api-model-versions",
    ),
    path(
        "projects/<slug:slug>/models/<path:name>/aliases/<str:alias>/",
        registry_views.alias,
        name="api-model-alias",
    ),
    path("projects/<slug:slug>/models/<path:name>/", registry_views.model, name="api-model"),
]
