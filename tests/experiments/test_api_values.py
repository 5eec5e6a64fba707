"""Values of MLflow that JSON cannot carry, and query values that cannot name a project."""

import math

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric

from .conftest import log_example

pytestmark = pytest.mark.slow


def test_non_finite_metrics_are_answered_as_null(personas, mlflow_uri):
    logged = log_example("genomics", metrics={"acc": 0.5})
    client = MlflowClient(tracking_uri=mlflow_uri)
    client.log_batch(
        logged.run_id,
        metrics=[Metric("loss", math.nan, 0, 5), Metric("ratio", math.inf, 0, 0)],
    )
    api = personas.client("vera")
    run = api.get(f"/api/v1/runs/{logged.run_id}/")
    assert run.status_code == 200
    body = run.json()
    assert body["metrics"]["loss"] is None
    assert body["metrics"]["ratio"] == 1.7976931348623157e308  # MLflow's store keeps infinity as max
    assert body["metrics"]["acc"] == 0.5
    assert body["metric_history"]["loss"][-1] == {"step": 5, "value": None, "timestamp": 0}
    runs = api.get("/api/v1/runs/", {"project": "genomics", "experiment": logged.experiment_id})
    assert runs.status_code == 200
    listed = {r["run_id"]: r for r in runs.json()["runs"]}
    assert listed[logged.run_id]["metrics"]["loss"] is None


@pytest.mark.parametrize("value", ["genomics\x00", "GENOMICS", "genomics\n", "a" * 41, "../genomics"])
def test_a_project_value_that_cannot_be_a_slug_is_404(personas, mlflow_uri, value):
    api = personas.client("alice")
    for url in ("/api/v1/experiments/", "/api/v1/runs/", "/api/v1/models/"):
        response = api.get(url, {"project": value})
        assert response.status_code == 404, (url, value)
        assert response.json() == {"detail": "No such project."}
