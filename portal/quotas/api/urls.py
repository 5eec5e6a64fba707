from django.urls import path

from . import approval_views, more_views, views

urlpatterns = [
    path("projects/<slug:slug>/approve/", approval_views.approve_project, name="api-project-approve"),
    path("projects/<slug:slug>/quota/", views.QuotaView.as_view(), name="api-quota"),
    path("projects/<slug:slug>/quota/changes/", views.QuotaChangeList.as_view(), name="api-quota-changes"),
    path("projects/<slug:slug>/quota/requests/", views.QuotaRequestList.as_view(), name="api-quota-requests"),
    path(
        "projects/<slug:slug>/quota/requests/<int:pk>/",
        views.QuotaRequestDetail.as_view(),
        name="api-quota-request",
    ),
    path(
        "projects/<slug:slug>/quota/requests/<int:pk>/approve/",
        views.QuotaRequestApprove.as_view(),
        name="api-quota-request-approve",
    ),
    path(
        "projects/<slug:slug>/quota/requests/<int:pk>/decline/",
        views.QuotaRequestDecline.as_view(),
        name="api-quota-request-decline",
    ),
    path("projects/<slug:slug>/usage/", views.UsageView.as_view(), name="api-usage"),
    path("projects/<slug:slug>/quota/caps/", more_views.MemberCapList.as_view(), name="api-caps"),
    path(
        "projects/<slug:slug>/quota/caps/<str:username>/",
        more_views.MemberCapDetail.as_view(),
        name="api-cap",
    ),
    path("projects/<slug:slug>/quota/preview/", more_views.QuotaPreview.as_view(), name="api-quota-preview"),
    path("usage/", more_views.UsageOverview.as_view(), name="api-usage-overview"),
    path("usage/export.csv", more_views.UsageExport.as_view(), name="api-usage-export"),
]
