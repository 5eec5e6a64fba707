"""The REST API, version 1, mounted at /api/v1/. Each app adds its own urls module here, one line each."""

from django.urls import include, path

urlpatterns = [
    path("", include("portal.projects.api.urls")),
    path("", include("experiments.api.urls")),
    path("", include("clusterjobs.api.urls")),
    path("", include("pipelines.api.urls")),
    path("", include("portal.quotas.api.urls")),
    path("", include("portal.accounts.api.urls")),
    path("", include("deployments.api.urls")),
    path("", include("sweeps.api.urls")),
]
