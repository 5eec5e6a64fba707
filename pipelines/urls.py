from django.urls import path

from . import views

app_name = "pipelines"
urlpatterns = [
    path("projects/<slug:slug>/pipelines/", views.project_runs, name="project-runs"),
    path("projects/<slug:slug>/pipelines/new/", views.start, name="start"),
    path("pipelines/runs/<int:pk>/", views.run_detail, name="run"),
    path("pipelines/runs/<int:pk>/cancel/", views.cancel, name="cancel"),
    path("pipelines/runs/<int:pk>/rerun/", views.rerun, name="rerun"),
]
