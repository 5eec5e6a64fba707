from django.urls import path

from . import views

urlpatterns = [
    path("experiments/", views.experiments, name="api-experiments"),
    path("runs/", views.runs, name="api-runs"),
    path("runs/<str:run_id>/", views.run, name="api-run"),
    path("models/", views.models, name="api-models"),
]
