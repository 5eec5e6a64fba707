"""The tracking proxy, driven by the stock mlflow client and by plain HTTP, against a real server."""

import json
import uuid

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from experiments import gateway

from .conftest import log_example

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_stock_client_logs_runs_metrics_artifacts_and_a_model_through_the_proxy(
    personas, tokens, stock_client, tmp_path, settings
):
    import mlflow
    from mlflow.entities import Metric, Param

    client = stock_client(tokens.bob)
    name = f"genomics/proxy-{uuid.uuid4().hex[:6]}"
    experiment_id = client.create_experiment(name)
    run = client.create_run(experiment_id, run_name="through-proxy")
    run_id = run.info.run_id
    client.log_batch(
        run_id,
        metrics=[Metric("acc", 0.1 * step, 1000 + step, step) for step in range(10)],
        params=[Param("lr", "0.01"), Param("layers", "3")],
    )
    (tmp_path / "report.txt").write_text("all good\n")
    client.log_artifact(run_id, str(tmp_path / "report.txt"), "reports")
    client.set_terminated(run_id)

    # The fluent API too: set_experiment, start_run, log_model with registration.
    mlflow.set_experiment(name)
    model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1]))
    with mlflow.start_run(run_name="fluent") as fluent:
        mlflow.log_param("C", 1.0)
        mlflow.log_metrics({"f1": 0.8, "auc": 0.9})
        mlflow.sklearn.log_model(
            model, name="model", registered_model_name="genomics.logreg", pip_requirements=["scikit-learn"]
        )

    # What MLflow itself now holds (read straight from the server, not through the proxy).
    experiment = gateway.get_experiment("genomics", experiment_id)
    assert experiment["project"] == "genomics"
    stored = gateway.get_run("genomics", run_id)
    assert stored["params"] == {"layers": "3", "lr": "0.01"}
    assert stored["metrics"]["acc"] == pytest.approx(0.9)
    assert len(gateway.metric_history(run_id, "acc")) == 10
    assert [f["path"] for f in gateway.list_artifacts(run_id, "reports")] == ["reports/report.txt"]
    artifact = gateway.open_artifact(stored, "reports/report.txt")
    assert artifact.read(1000) == b"all good\n"
    registered = gateway.get_model("genomics", "genomics.logreg")
    assert registered["tags"][gateway.PROJECT_TAG] == "genomics"
    versions = gateway.list_versions("genomics", "genomics.logreg")["versions"]
    assert fluent.info.run_id in {v["run_id"] for v in versions}

    # And the client reads back through the proxy.
    assert client.get_run(run_id).data.params["lr"] == "0.01"
    downloaded = client.download_artifacts(run_id, "reports/report.txt", str(tmp_path / "dl"))
    assert open(downloaded).read() == "all good\n"
    assert [e.name for e in client.search_experiments(filter_string=f"name = '{name}'")] == [name]
    found = client.search_runs([experiment_id], "metrics.acc > 0.5")
    assert [r.info.run_id for r in found] == [run_id]
    assert "genomics.logreg" in {m.name for m in client.search_registered_models()}


def test_creating_an_experiment_needs_a_project_prefix_and_tags_it(personas, tokens, call, physics):
    no_prefix = call(tokens.bob, "POST", "api/2.0/mlflow/experiments/create", json={"name": "loose"})
    assert no_prefix.status_code == 400
    assert "<project>/" in no_prefix.json()["message"]
    foreign = call(tokens.bob, "POST", "api/2.0/mlflow/experiments/create", json={"name": "physics/x"})
    assert foreign.status_code == 404
    viewer = call(tokens.vera, "POST", "api/2.0/mlflow/experiments/create", json={"name": "genomics/v"})
    assert viewer.status_code == 403
    name = f"genomics/tagged-{uuid.uuid4().hex[:6]}"
    sneaky = [{"key": gateway.PROJECT_TAG, "value": "physics"}]
    refused = call(
        tokens.bob, "POST", "api/2.0/mlflow/experiments/create", json={"name": name, "tags": sneaky}
    )
    assert refused.status_code == 403
    created = call(tokens.bob, "POST", "api/2.0/mlflow/experiments/create", json={"name": name})
    assert created.status_code == 200, created.text
    experiment = gateway.get_experiment("genomics", created.json()["experiment_id"])
    assert experiment["project"] == "genomics"


def test_no_token_or_a_bad_one_is_401(call, mlflow_uri, db):
    for token in (None, "tlr_not-a-real-token"):
        answer = call(token, "GET", "api/2.0/mlflow/experiments/get", params={"experiment_id": "0"})
        assert answer.status_code == 401
        assert answer.json()["error_code"] == "UNAUTHENTICATED"
    assert call(None, "GET", "api/2.0/mlflow-artifacts/artifacts/1/x").status_code == 401


def test_unknown_routes_are_not_passed_through(tokens, call):
    assert call(tokens.root, "GET", "api/2.0/mlflow/webhooks").status_code == 404
    assert call(tokens.root, "POST", "api/3.0/mlflow/workspaces", json={}).status_code == 404
    assert call(tokens.root, "GET", "graphql").status_code == 404
    assert call(tokens.root, "GET", "api/2.0/mlflow/runs/create").status_code == 404  # wrong method


@pytest.fixture
def two_projects(personas, physics, mlflow_uri):
    return log_example("genomics"), log_example("physics")


def test_a_job_token_reaches_only_its_project(personas, tokens, call, two_projects, physics):
    genomics, other = two_projects
    # bob is now also a member of physics: his personal token reaches it, his job token does not.
    from portal.projects.models import Membership, Role

    Membership.objects.create(project=physics, user=personas.bob, role=Role.MEMBER)
    run_of = {"GET": "api/2.0/mlflow/runs/get"}
    assert call(tokens.bob, "GET", run_of["GET"], params={"run_id": other.run_id}).status_code == 200
    assert call(tokens.job, "GET", run_of["GET"], params={"run_id": other.run_id}).status_code == 404
    assert call(tokens.job, "GET", run_of["GET"], params={"run_id": genomics.run_id}).status_code == 200
    seen = call(tokens.job, "POST", "api/2.0/mlflow/experiments/search", json={"max_results": 1000})
    projects = {
        {t["key"]: t["value"] for t in e.get("tags", [])}.get(gateway.PROJECT_TAG)
        for e in seen.json()["experiments"]
    }
    assert projects == {"genomics"}
    models = call(tokens.job, "GET", "api/2.0/mlflow/registered-models/search", params={"max_results": 1000})
    assert {m["name"].split(".")[0] for m in models.json()["registered_models"]} == {"genomics"}


def test_searches_are_narrowed_to_the_tokens_projects(tokens, call, two_projects):
    seen = call(tokens.alice, "POST", "api/2.0/mlflow/experiments/search", json={"max_results": 1000})
    assert seen.status_code == 200
    names = {e["name"] for e in seen.json()["experiments"]}
    assert names and all(n.startswith("genomics/") for n in names)
    # A filter cannot widen the search: MLflow filters only conjoin.
    sneaky = call(
        tokens.alice, "POST", "api/2.0/mlflow/experiments/search", json={"filter": "name LIKE 'physics/%'"}
    )
    assert sneaky.json().get("experiments", []) == []
    # A token of several projects (a site admin: all) sees each of them, and nothing untagged.
    everything = call(tokens.root, "POST", "api/2.0/mlflow/experiments/search", json={"max_results": 1000})
    assert everything.status_code == 200, everything.text
    prefixes = {e["name"].split("/")[0] for e in everything.json()["experiments"]}
    assert prefixes == {"genomics", "physics"}
    versions = call(
        tokens.alice,
        "GET",
        "api/2.0/mlflow/model-versions/search",
        params={"filter": "name='physics.classifier'"},
    )
    assert versions.json().get("model_versions", []) == []
    assert (
        call(
            tokens.root,
            "POST",
            "api/2.0/mlflow/runs/search",
            json={"experiment_ids": [two_projects[1].experiment_id]},
        ).status_code
        == 200
    )


def test_a_version_source_must_be_of_the_models_project(tokens, call, two_projects):
    genomics, physics = two_projects
    stolen = {"name": genomics.model, "source": f"runs:/{physics.run_id}/notes"}
    assert call(tokens.bob, "POST", "api/2.0/mlflow/model-versions/create", json=stolen).status_code in {
        403,
        404,
    }
    local = {"name": genomics.model, "source": "/etc"}
    assert call(tokens.bob, "POST", "api/2.0/mlflow/model-versions/create", json=local).status_code == 403


def test_reserved_tags_and_prefix_changes_are_refused(tokens, call, two_projects):
    genomics, _ = two_projects
    tag = {"run_id": genomics.run_id, "key": gateway.JOB_TAG, "value": "999"}
    assert call(tokens.bob, "POST", "api/2.0/mlflow/runs/set-tag", json=tag).status_code == 403
    rename = {"experiment_id": genomics.experiment_id, "new_name": "physics/stolen"}
    assert call(tokens.bob, "POST", "api/2.0/mlflow/experiments/update", json=rename).status_code == 403


def test_bad_input_through_the_proxy(tokens, call, two_projects):
    genomics, _ = two_projects
    bad = call(
        tokens.bob,
        "POST",
        "api/2.0/mlflow/runs/search",
        json={"experiment_ids": [genomics.experiment_id], "filter": "metrics.acc >>> 1"},
    )
    assert bad.status_code == 400
    assert bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    unknown = call(tokens.bob, "GET", "api/2.0/mlflow/runs/get", params={"run_id": uuid.uuid4().hex})
    assert unknown.status_code == 404
    escape = call(
        tokens.bob, "GET", f"api/2.0/mlflow-artifacts/artifacts/{genomics.experiment_id}/../../etc/passwd"
    )
    assert escape.status_code in {400, 404}  # the client itself resolves a literal `..`
    encoded = call(
        tokens.bob,
        "GET",
        f"api/2.0/mlflow-artifacts/artifacts/{genomics.experiment_id}/%2E%2E/%2E%2E/etc/passwd",
    )
    assert encoded.status_code == 400
    not_json = call(
        tokens.bob,
        "POST",
        "api/2.0/mlflow/runs/log-batch",
        data=b"{nope",
        headers={"Content-Type": "application/json"},
    )
    assert not_json.status_code == 400


def test_mlflow_down_is_a_502(tokens, call, two_projects, settings):
    from ..conftest import free_port

    settings.MLFLOW_TRACKING_URI = f"http://127.0.0.1:{free_port()}"
    answer = call(tokens.bob, "GET", "api/2.0/mlflow/runs/get", params={"run_id": two_projects[0].run_id})
    assert answer.status_code == 502
    assert "MLflow" in answer.json()["message"]
    assert json.loads(answer.content)["error_code"] == "TEMPORARILY_UNAVAILABLE"
