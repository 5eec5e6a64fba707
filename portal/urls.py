from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from portal.projects import views as project_views

from . import views

urlpatterns = [
    path("", project_views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/", include("portal.accounts.urls")),
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("projects/", include("portal.projects.urls")),
    path("", include("portal.quotas.urls")),
    path("api/v1/", include("portal.quotas.api.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("admin/", admin.site.urls),
]

admin.site.site_header = "Taller"
admin.site.site_title = "Taller"
