from django.urls import path

from . import serving

urlpatterns = [
    path("<slug:slug>/<slug:name>/invocations", serving.invocations, name="serve-invocations"),
]
