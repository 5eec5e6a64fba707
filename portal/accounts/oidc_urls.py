"""The single sign-on URLs, named as mozilla-django-oidc names them."""

from django.urls import path

from . import oidc

urlpatterns = [
    path("authenticate/", oidc.authenticate, name="oidc_authentication_init"),
    path("callback/", oidc.callback, name="oidc_authentication_callback"),
]
