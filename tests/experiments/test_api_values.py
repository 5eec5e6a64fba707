"""Values of MLflow that JSON cannot carry, and query values that cannot name a project."""

import math

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric

from experiments import gateway
from portal.projects.models import Role
from tests.factories import MembershipFactory, ProjectFactory

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


@pytest.mark.parametrize("kind", ["experiments", "runs", "models"])
def test_page_tokens_are_the_apis_own_and_a_tampered_one_is_400(personas, mlflow_uri, kind):
    # A project of its own: the session's MLflow server keeps what each test logs.
    MembershipFactory(project=ProjectFactory(slug="paging"), user=personas.vera, role=Role.VIEWER)
    log_example("paging", experiment="first")
    log_example("paging", experiment="second")
    client = MlflowClient(tracking_uri=mlflow_uri, registry_uri=mlflow_uri)
    if not client.search_registered_models(filter_string="name = 'paging.second'"):
        client.create_registered_model("paging.second", tags={gateway.PROJECT_TAG: "paging"})
    api = personas.client("vera")
    url = f"/api/v1/{kind}/"
    first = api.get(url, {"project": "paging", "max_results": 1}).json()
    token = first["next_page_token"]
    assert token
    second = api.get(url, {"project": "paging", "max_results": 1, "page_token": token})
    assert second.status_code == 200
    assert second.json()[kind] != first[kind]
    # MLflow's own token format (base64 JSON), a non-object in it, non-ASCII, or a cut signature.
    for bad in ["eyJvZmZzZXQiOiAxfQ==", "MQ==", "ÿ", token[:-2], token.replace(":", ";")]:
        response = api.get(url, {"project": "paging", "page_token": bad})
        assert response.status_code == 400, bad
        assert list(response.json()) == ["page_token"]
    other = {"experiments": "runs", "runs": "models", "models": "experiments"}[kind]
    response = api.get(f"/api/v1/{other}/", {"project": "paging", "page_token": token})
    assert response.status_code == 400  # a token of another list
