"""Pages under /projects/<slug>/: experiments, runs, compare and registered models."""

from django.urls import path

from . import artifact_views, model_views, register_views, runs_table, views

app_name = "experiments"
urlpatterns = [
    path("<slug:slug>/experiments/", views.experiment_list, name="list"),
    path("<slug:slug>/experiments/<str:experiment_id>/", runs_table.run_list, name="runs"),
    path("<slug:slug>/runs/", runs_table.project_runs, name="project-runs"),
    path("<slug:slug>/charts/", runs_table.run_charts, name="charts"),
    path("<slug:slug>/runs/<str:run_id>/", views.run_detail, name="run"),
    path("<slug:slug>/runs/<str:run_id>/register/", register_views.register_model, name="register"),
    path("<slug:slug>/runs/<str:run_id>/job/", views.run_job, name="run-job"),
    path("<slug:slug>/runs/<str:run_id>/history/", views.run_history, name="run-history"),
    path("<slug:slug>/runs/<str:run_id>/artifacts/", artifact_views.artifact_tree, name="artifacts"),
    path(
        "<slug:slug>/runs/<str:run_id>/artifacts/preview/",
        artifact_views.artifact_preview,
        name="artifact-preview",
    ),
    path(
        "<slug:slug>/runs/<str:run_id>/artifacts/download/",
        artifact_views.artifact_download,
        name="artifact-download",
    ),
    path("<slug:slug>/compare/", views.compare, name="compare"),
    path("<slug:slug>/compare/history/", views.compare_history, name="compare-history"),
    path("<slug:slug>/models/", model_views.model_list, name="models"),
    path(
        "<slug:slug>/models/<path:name>/versions/<str:version>/alias/",
        model_views.set_alias,
        name="set-alias",
    ),
    path(
        "<slug:slug>/models/<path:name>/versions/<str:version>/alias/delete/",
        model_views.delete_alias,
        name="delete-alias",
    ),
    path("<slug:slug>/models/<path:name>/versions/<str:version>/tags/", model_views.set_tag, name="set-tag"),
    path(
        "<slug:slug>/models/<path:name>/versions/<str:version>/tags/delete/",
        model_views.delete_tag,
        name="delete-tag",
    ),
    path(
        "<slug:slug>/models/<path:name>/versions/<str:version>/", model_views.version_detail, name="version"
    ),
    path("<slug:slug>/models/<path:name>/", model_views.model_detail, name="model"),
]
