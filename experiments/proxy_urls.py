"""The tracking proxy's routes under /mlflow/: what a stock MLflow client calls, nothing else
(and, for a browser, the page that turns MLflow's printed links into the portal's)."""

from django.urls import path, re_path

from . import link_views, proxy

app_name = "mlflow-proxy"
urlpatterns = [
    re_path(r"^(?P<api>api|ajax-api)/2\.0/mlflow/(?P<route>.+)$", proxy.tracking, name="tracking"),
    path("api/2.0/mlflow-artifacts/artifacts", proxy.artifacts, name="artifacts-list"),
    path("api/2.0/mlflow-artifacts/artifacts/", proxy.artifacts),
    path("api/2.0/mlflow-artifacts/artifacts/<path:path>", proxy.artifacts, name="artifacts"),
    path("api/3.0/mlflow/server-info", proxy.server_info, name="server-info"),
    # MLflow's "View run at <tracking uri>/#/experiments/..." links, opened in a browser.
    path("", link_views.mlflow_home, name="home"),
    re_path(r"^(?P<rest>.*)$", proxy.unknown),
]
