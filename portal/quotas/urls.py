from django.urls import path

from . import review_views, views

app_name = "quotas"
urlpatterns = [
    # Before the projects' own URLs, which would read "review" as a project's slug.
    path("projects/review/", review_views.review, name="project-review"),
    path(
        "projects/<slug:slug>/approve/", review_views.decide, {"decision": "approve"}, name="project-approve"
    ),
    path("projects/<slug:slug>/reject/", review_views.decide, {"decision": "reject"}, name="project-reject"),
    path("quotas/", views.overview, name="overview"),
    path("quotas/export.csv", views.export_csv, name="export"),
    path("projects/<slug:slug>/quota/", views.quota_page, name="project"),
    path("projects/<slug:slug>/quota/edit/", views.edit_quota, name="edit"),
    path("projects/<slug:slug>/quota/request/", views.request_quota, name="request"),
    path(
        "projects/<slug:slug>/quota/requests/<int:pk>/approve/",
        views.decide_request,
        {"decision": "approve"},
        name="approve",
    ),
    path(
        "projects/<slug:slug>/quota/requests/<int:pk>/decline/",
        views.decide_request,
        {"decision": "decline"},
        name="decline",
    ),
    path("projects/<slug:slug>/quota/caps/", views.set_member_cap, name="cap"),
    path("projects/<slug:slug>/quota/preview/", views.preview, name="preview"),
]
