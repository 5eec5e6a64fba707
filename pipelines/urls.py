from django.urls import path

from . import builder_views, notify_views, schedule_views, views

app_name = "pipelines"
urlpatterns = [
    path("projects/<slug:slug>/pipelines/", views.project_runs, name="project-runs"),
    path("projects/<slug:slug>/pipelines/new/", views.start, name="start"),
    path("projects/<slug:slug>/pipelines/build/", builder_views.build, name="build"),
    path("pipelines/runs/<int:pk>/", views.run_detail, name="run"),
    path("pipelines/runs/<int:pk>/cancel/", views.cancel, name="cancel"),
    path("pipelines/runs/<int:pk>/rerun/", views.rerun, name="rerun"),
    path("projects/<slug:slug>/schedules/", schedule_views.project_schedules, name="schedules"),
    *(
        path(f"schedules/<int:pk>/{verb}/", schedule_views.change, {"verb": verb}, name=f"schedule-{verb}")
        for verb in ("pause", "resume", "delete")
    ),
    path("projects/<slug:slug>/notifications/", notify_views.notifications, name="notifications"),
    *(
        path(
            f"webhooks/<int:pk>/{verb}/", notify_views.webhook_action, {"verb": verb}, name=f"webhook-{verb}"
        )
        for verb in ("test", "delete")
    ),
]
