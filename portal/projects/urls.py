from django.urls import path

from . import audit_views, views

app_name = "projects"
urlpatterns = [
    path("new/", views.register, name="register"),
    path("<slug:slug>/", views.detail, name="detail"),
    path("<slug:slug>/members/", views.add_member, name="add-member"),
    path("<slug:slug>/members/<int:pk>/role/", views.change_role, name="change-role"),
    path("<slug:slug>/members/<int:pk>/remove/", views.remove_member, name="remove-member"),
    path("<slug:slug>/archive/", views.archive, name="archive"),
    path("<slug:slug>/audit/", audit_views.project_audit, name="audit"),
    path("<slug:slug>/audit/export.csv", audit_views.project_audit_csv, name="audit-csv"),
]
