"""MLflow side: a second project (physics, charlie owns it), tokens for every persona, and the
stock mlflow client pointed at the portal's proxy."""

from dataclasses import dataclass
from datetime import timedelta

import pytest
import requests
from django.core.cache import cache
from django.utils import timezone

from experiments import gateway
from portal.accounts.actions import create_token
from portal.projects.models import Role

from ..factories import MembershipFactory, ProjectFactory


@pytest.fixture(autouse=True)
def _fresh_scope_cache():
    """Experiment ids restart with each MLflow server: never reuse another session's answers."""
    cache.clear()
    yield
    cache.clear()


@dataclass
class Tokens:
    alice: str
    bob: str
    vera: str
    charlie: str
    root: str
    job: str  # bob's token scoped to genomics (what a job gets)
    scoped: str  # root's (a site admin's) own token scoped to genomics
    expired: str  # alice's token, expired a minute ago


@pytest.fixture
def physics(personas):
    project = ProjectFactory(slug="physics", name="Physics", requested_by=personas.charlie)
    MembershipFactory(project=project, user=personas.charlie, role=Role.OWNER)
    return project


@pytest.fixture
def tokens(personas, physics) -> Tokens:
    keys = {
        who: create_token(getattr(personas, who), f"{who} cli")[1]
        for who in ("alice", "bob", "vera", "charlie", "root")
    }
    keys["job"] = create_token(personas.bob, "job 1", project=personas.project)[1]
    keys["scoped"] = create_token(personas.root, "root genomics", scope=personas.project)[1]
    a_minute_ago = timezone.now() - timedelta(minutes=1)
    keys["expired"] = create_token(personas.alice, "old", expires_at=a_minute_ago)[1]
    return Tokens(**keys)


@pytest.fixture
def proxy_url(live_server, mlflow_uri) -> str:
    return f"{live_server.url}/mlflow"


@pytest.fixture
def stock_client(proxy_url, monkeypatch):
    """Point the stock mlflow client at the proxy; call it with a token to switch identity."""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", proxy_url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    mlflow.set_tracking_uri(proxy_url)
    mlflow.set_registry_uri(proxy_url)

    def use(token: str):
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
        return mlflow.MlflowClient(tracking_uri=proxy_url, registry_uri=proxy_url)

    yield use
    if mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri("")
    mlflow.set_registry_uri("")


class ProxyCaller:
    def __init__(self, base: str) -> None:
        self.base = base

    def __call__(self, token: str | None, method: str, route: str, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return requests.request(method, f"{self.base}/{route}", headers=headers, timeout=30, **kwargs)


@pytest.fixture
def call(proxy_url) -> ProxyCaller:
    return ProxyCaller(proxy_url)


@dataclass
class Logged:
    experiment_id: str
    run_id: str
    model: str
    logged_model_id: str


def log_example(
    project: str, experiment: str = "demo", metrics: dict | None = None, params: dict | None = None
) -> Logged:
    """A run with params, a metric history and two artifacts, written straight to MLflow (no proxy)."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    experiment_id = gateway.ensure_experiment(project, experiment)
    client = MlflowClient(tracking_uri=gateway.base_url(), registry_uri=gateway.base_url())
    run = client.create_run(experiment_id, run_name=f"{project}-run", tags={gateway.PROJECT_TAG: project})
    run_id = run.info.run_id
    history = [Metric("loss", 1.0 / (step + 1), 0, step) for step in range(5)]
    latest = [Metric(key, value, 0, 0) for key, value in (metrics or {"acc": 0.5}).items()]
    client.log_batch(
        run_id,
        metrics=history + latest,
        params=[Param(k, v) for k, v in (params or {"lr": "0.1"}).items()],
    )
    client.log_text(run_id, "hello from " + project, "notes/readme.txt")
    client.set_terminated(run_id)
    model = f"{project}.classifier"
    try:
        client.create_registered_model(model, tags={gateway.PROJECT_TAG: project})
    except Exception:  # noqa: BLE001 - created by an earlier test of the session
        pass
    client.create_model_version(model, f"runs:/{run_id}/notes", run_id=run_id)
    logged_model = client.create_logged_model(experiment_id, name="net", source_run_id=run_id)
    return Logged(
        experiment_id=experiment_id, run_id=run_id, model=model, logged_model_id=logged_model.model_id
    )


@pytest.fixture
def forget_registered_models(mlflow_uri):
    """The session's MLflow server outlives a test: a test that registers models removes them
    after itself, since other tests count the project's models."""
    yield
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=gateway.base_url(), registry_uri=gateway.base_url())
    for model in client.search_registered_models(filter_string="name LIKE 'genomics.%'"):
        if model.name != "genomics.classifier":
            client.delete_registered_model(model.name)
