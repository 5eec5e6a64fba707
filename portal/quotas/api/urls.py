from django.urls import path

from . import views

urlpatterns = [
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
        views.QuotaRequestDecision.as_view(decision="approve"),
        name="api-quota-request-approve",
    ),
    path(
        "projects/<slug:slug>/quota/requests/<int:pk>/decline/",
        views.QuotaRequestDecision.as_view(decision="decline"),
        name="api-quota-request-decline",
    ),
    path("projects/<slug:slug>/usage/", views.UsageView.as_view(), name="api-usage"),
]
