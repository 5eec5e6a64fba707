"""The headline metric of each job's run, from one MLflow call for the whole page, against a real
`mlflow server`."""

import pytest
import requests
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clusterjobs.models import JobStatus
from tests.clusterjobs.factories import JobFactory
from tests.experiments.conftest import log_example

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _fresh_scope_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def test_each_run_shows_its_headline_metric_from_one_mlflow_call(personas, mlflow_uri, monkeypatch):
    logged = [log_example("genomics", metrics={"test_accuracy": 0.75 + i / 100}) for i in range(3)]
    for i, run in enumerate(logged):
        JobFactory(
            project=personas.project,
            submitter=personas.bob,
            status=JobStatus.SUCCEEDED,
            name=f"trial-{i}",
            mlflow_run_id=run.run_id,
            mlflow_experiment_id=run.experiment_id,
        )
    # Every HTTP request that reaches MLflow, seen at the requests library (not our code).
    calls = []
    send = requests.Session.send

    def spy(session, prepared, **kwargs):
        if prepared.url.startswith(mlflow_uri):
            calls.append(prepared.url)
        return send(session, prepared, **kwargs)

    monkeypatch.setattr(requests.Session, "send", spy)
    client = personas.client("bob")
    with CaptureQueriesContext(connection):
        html = client.get("/").content.decode()
    assert len(calls) == 1, calls
    for run in logged:
        assert f"/projects/genomics/runs/{run.run_id}/" in html
    assert "test_accuracy 0.75<" in html and "test_accuracy 0.77<" in html
    # In Spanish, with its decimal comma.
    spanish = client.get("/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "test_accuracy 0,75<" in spanish

    calls.clear()
    html = client.get("/projects/genomics/").content.decode()
    assert len(calls) == 1 and "test_accuracy 0.76<" in html
