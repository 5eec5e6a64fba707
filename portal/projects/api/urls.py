from django.urls import path
from rest_framework.routers import SimpleRouter

from .audit import ProjectAuditExport, ProjectAuditList, SiteAuditExport, SiteAuditList
from .views import MemberViewSet, ProjectViewSet

router = SimpleRouter()
router.register("projects", ProjectViewSet, basename="api-project")
router.register(r"projects/(?P<project_slug>[a-z0-9-]+)/members", MemberViewSet, basename="api-member")

urlpatterns = [
    *router.urls,
    path("projects/<slug:slug>/audit/", ProjectAuditList.as_view(), name="api-project-audit"),
    path("projects/<slug:slug>/audit/export.csv", ProjectAuditExport.as_view(), name="api-project-audit-csv"),
    path("audit/", SiteAuditList.as_view(), name="api-audit"),
    path("audit/export.csv", SiteAuditExport.as_view(), name="api-audit-csv"),
]
