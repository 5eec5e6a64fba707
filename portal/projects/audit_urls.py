"""The whole audit log, for site admins, at /audit/ (a project's own is under /projects/<slug>/audit/)."""

from django.urls import path

from . import audit_views

app_name = "audit"
urlpatterns = [
    path("", audit_views.site_audit, name="site"),
    path("export.csv", audit_views.site_audit_csv, name="csv"),
]
