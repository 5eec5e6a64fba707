from django.urls import path

from . import oidc, views

app_name = "accounts"
urlpatterns = [
    path("login/", views.login, name="login"),
    path("logout/", oidc.logout, name="logout"),
    path("profile/", views.profile, name="profile"),
    path("profile/time-zone/", views.time_zone, name="time-zone"),
    path("tokens/<int:pk>/revoke/", views.revoke, name="revoke-token"),
]
