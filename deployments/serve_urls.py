from django.urls import path

from . import serving

urlpatterns = [
    path("serve/<slug:slug>/<slug:name>/invocations", serving.invocations, name="serve-invocations"),
]
