"""MLflow's printed links (``<tracking uri>/#/experiments/<id>/runs/<run id>``) opened in a
browser lead to the portal's run page; API clients keep the proxy's JSON answer."""

import pytest

from .conftest import log_example

pytestmark = pytest.mark.slow
HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture
def logged(personas, physics, mlflow_uri):
    return log_example("genomics"), log_example("physics")


def test_a_browser_on_mlflow_gets_the_page_that_follows_the_link(personas, logged):
    page = personas.client("vera").get("/mlflow/", HTTP_ACCEPT=HTML)
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    html = page.content.decode()
    assert 'data-open-url="/mlflow-link/"' in html and "js/mlflow-link.js" in html
    # Without the script: a link to the experiments of each of the reader's projects, no other.
    assert 'href="/projects/genomics/experiments/"' in html and "/projects/physics/" not in html
    anonymous = personas.client(None).get("/mlflow/", HTTP_ACCEPT=HTML).content.decode()
    assert "/accounts/login/" in anonymous and "/projects/genomics/" not in anonymous


def test_api_clients_keep_the_json_answer(personas, logged):
    for accept in ["application/json", "*/*", ""]:
        answer = personas.client("vera").get("/mlflow/", HTTP_ACCEPT=accept)
        assert answer.status_code == 404 and answer.json()["error_code"] == "ENDPOINT_NOT_FOUND", accept
    assert personas.client("vera").post("/mlflow/", HTTP_ACCEPT=HTML).status_code == 404


@pytest.mark.parametrize("who, status", [("alice", 302), ("vera", 302), ("root", 302), ("charlie", 404)])
def test_the_link_opens_the_run_page_after_the_membership_check(personas, logged, who, status):
    genomics, _physics = logged
    client = personas.client(who)
    run = client.get("/mlflow-link/", {"experiment": genomics.experiment_id, "run": genomics.run_id})
    assert run.status_code == status
    if status == 302:
        assert run["Location"] == f"/projects/genomics/runs/{genomics.run_id}/"
    experiment = client.get("/mlflow-link/", {"experiment": genomics.experiment_id})
    assert experiment.status_code == status
    if status == 302:
        assert experiment["Location"] == f"/projects/genomics/experiments/{genomics.experiment_id}/"
    job = client.get(f"/projects/genomics/runs/{genomics.run_id}/job/")
    assert job.status_code == status  # no job made this run: its own page


def test_bad_and_foreign_links_are_404(personas, logged):
    genomics, physics = logged
    client = personas.client("bob")
    for query in [
        {"experiment": physics.experiment_id, "run": physics.run_id},  # not bob's project
        {"experiment": physics.experiment_id},
        {"experiment": physics.experiment_id, "run": genomics.run_id},  # the run is in another one
        {"run": "0" * 32},
        {"run": "../etc"},
        {"experiment": "x y"},
        {},
    ]:
        assert client.get("/mlflow-link/", query).status_code == 404, query
    anonymous = personas.client(None).get("/mlflow-link/", {"experiment": genomics.experiment_id})
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
