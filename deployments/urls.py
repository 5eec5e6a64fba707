from django.urls import path

from . import views

app_name = "deployments"
urlpatterns = [
    path("projects/<slug:slug>/deployments/", views.deployment_list, name="list"),
    path("projects/<slug:slug>/deployments/new/", views.new, name="new"),
    path("projects/<slug:slug>/deployments/<slug:name>/", views.detail, name="detail"),
    path("projects/<slug:slug>/deployments/<slug:name>/version/", views.update_version, name="version"),
    path("projects/<slug:slug>/deployments/<slug:name>/rollback/", views.rollback, name="rollback"),
    path("projects/<slug:slug>/deployments/<slug:name>/scale/", views.scale, name="scale"),
    path("projects/<slug:slug>/deployments/<slug:name>/stop/", views.stop, name="stop"),
    path("projects/<slug:slug>/deployments/<slug:name>/keys/", views.new_key, name="new-key"),
    path("projects/<slug:slug>/deployments/<slug:name>/sampling/", views.sampling, name="sampling"),
    path("projects/<slug:slug>/deployments/<slug:name>/samples/", views.sample_list, name="samples"),
    path(
        "projects/<slug:slug>/deployments/<slug:name>/samples.jsonl",
        views.sample_download,
        name="samples-download",
    ),
    path(
        "projects/<slug:slug>/deployments/<slug:name>/keys/<int:key_id>/revoke/",
        views.revoke_key,
        name="revoke-key",
    ),
]
