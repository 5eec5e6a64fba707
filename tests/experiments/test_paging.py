"""An experiment of 10,000 runs is browsed one page at a time: each page asks MLflow for one page."""

import html
import re
import subprocess

import pytest
from mlflow import MlflowClient

from ..conftest import start_mlflow_server
from .bulk import RecordingForwarder, insert_runs

pytestmark = pytest.mark.slow
RUNS = 10_000


@pytest.fixture(scope="module")
def big_experiment(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlflow-big")
    url, process = start_mlflow_server(folder)
    client = MlflowClient(tracking_uri=url, registry_uri=url)
    experiment_id = client.create_experiment("genomics/big", tags={"taller.project": "genomics"})
    insert_runs(folder / "mlflow.sqlite3", experiment_id, RUNS, "genomics")
    yield url, experiment_id
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def recorder(big_experiment, settings):
    forwarder = RecordingForwarder(big_experiment[0])
    settings.MLFLOW_TRACKING_URI = forwarder.url
    settings.MLFLOW_TIMEOUT_SECONDS = 60  # a loaded test machine; the bound is what matters
    yield forwarder
    forwarder.close()


def _searches(recorder):
    return [body for method, path, body in recorder.requests if path.endswith("/runs/search")]


def _link(content: str, link_id: str) -> str:
    match = re.search(rf'href="\?([^"]*)"[^>]*id="{link_id}"', content)
    return html.unescape(match.group(1)) if match else ""


def test_runs_page_walks_10000_runs_one_page_at_a_time(personas, big_experiment, recorder):
    _url, experiment_id = big_experiment
    client = personas.client("bob")
    url = f"/projects/genomics/experiments/{experiment_id}/"
    seen: list[str] = []
    query = "size=100&order=attributes.start_time+ASC"
    for page in range(3):
        recorder.requests.clear()
        response = client.get(f"{url}?{query}", headers={"HX-Request": "true"})
        assert response.status_code == 200
        searches = _searches(recorder)
        assert len(searches) == 1, recorder.requests
        assert searches[0]["max_results"] == 100
        content = response.content.decode()
        rows = re.findall(r">(run-\d{5})</a>", content)
        assert len(rows) == 100
        seen += rows
        query = _link(content, "next-page")
        assert query, f"no next page after page {page + 1}"
    assert seen == [f"run-{i:05d}" for i in range(300)]
    # ...and back: the previous link returns page 3's predecessor exactly.
    response = client.get(f"{url}?{_link(content, 'prev-page')}", headers={"HX-Request": "true"})
    assert re.findall(r">(run-\d{5})</a>", response.content.decode())[0] == "run-00100"


def test_runs_api_pages_with_the_token_and_filters_server_side(personas, big_experiment, recorder):
    from portal.accounts.actions import create_token

    _url, experiment_id = big_experiment
    _token, key = create_token(personas.vera, "cli")
    from django.test import Client

    api = Client(HTTP_AUTHORIZATION=f"Token {key}")
    params = {
        "project": "genomics",
        "experiment": experiment_id,
        "max_results": 500,
        "order_by": "attributes.start_time DESC",
    }
    recorder.requests.clear()
    first = api.get("/api/v1/runs/", params)
    assert first.status_code == 200, first.content
    body = first.json()
    assert len(body["runs"]) == 500 and body["next_page_token"]
    assert [s["max_results"] for s in _searches(recorder)] == [500]
    recorder.requests.clear()
    second = api.get("/api/v1/runs/", {**params, "page_token": body["next_page_token"]}).json()
    assert len(_searches(recorder)) == 1
    assert not {r["run_id"] for r in second["runs"]} & {r["run_id"] for r in body["runs"]}
    filtered = api.get("/api/v1/runs/", {**params, "filter": "metrics.acc >= 0.998"}).json()
    assert len(filtered["runs"]) == 20  # acc = (i % 1000) / 1000: i % 1000 in {998, 999}, ten times each
