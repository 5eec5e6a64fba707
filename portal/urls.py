from django.contrib import admin
from django.urls import include, path, re_path
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from experiments import link_views
from portal import dashboard
from portal.api import not_found as api_not_found

from . import views

urlpatterns = [
    # First the addresses that programs call in bulk (the API, the tracking proxy, serving): resolving walks
    # the list in order, and each include with an empty prefix is tried pattern by pattern.
    path("api/v1/", include("portal.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    re_path(r"^api/", api_not_found),
    path("mlflow/", include("experiments.proxy_urls")),
    path("serve/", include("deployments.serve_urls")),
    path("", dashboard.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("", include("monitoring.urls")),
    path("accounts/", include("portal.accounts.urls")),
    path("oidc/", include("portal.accounts.oidc_urls")),
    path("", include("portal.quotas.urls")),  # before projects: projects/review/ is not a slug
    path("projects/", include("portal.projects.urls")),
    path("audit/", include("portal.projects.audit_urls")),
    path("projects/", include("experiments.urls")),
    path("mlflow-link/", link_views.open_in_portal, name="mlflow-link"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("admin/", admin.site.urls),
    path("", include("clusterjobs.urls")),
    path("", include("deployments.urls")),
    path("", include("sweeps.urls")),
    path("", include("pipelines.urls")),
]

handler403 = "portal.views.permission_denied"

admin.site.site_header = "Taller"
admin.site.site_title = "Taller"
