from django.urls import path

from . import views

app_name = "sweeps"
urlpatterns = [
    path("projects/<slug:slug>/sweeps/", views.project_sweeps, name="list"),
    path("projects/<slug:slug>/sweeps/new/", views.new_sweep, name="new"),
    path("sweeps/<int:pk>/", views.sweep_detail, name="detail"),
    path("sweeps/<int:pk>/<str:verb>/", views.change, name="change"),
]
