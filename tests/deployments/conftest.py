"""Deployments: a real scikit-learn model, logged once a session by the example's training code
to the session's MLflow server and registered in genomics (two versions of it, the alias
``champion`` on the first), and the serving process's loop driven in the test."""

import os
import time
from dataclasses import dataclass

import pytest

from deployments import known_keys, traffic
from deployments.local import LocalServing
from deployments.models import Deployment, DeploymentStatus
from experiments import gateway
from tests.api.conftest import api  # noqa: F401 - a fixture of these tests too

MODEL = "digits"


@pytest.fixture(autouse=True)
def _serving_memory():
    """What the serving path keeps in the process between calls (the traffic counts not yet
    written, the keys known) belongs to the test that made the calls: its rows go with its
    database."""
    yield
    traffic._pending.clear()
    known_keys.known.clear()


_logged: dict[str, tuple[str, str]] = {}  # MLflow server url -> (run id, logged model id)


@dataclass
class Registered:
    name: str  # the short name, as users type it
    full_name: str
    run_id: str
    logged_model_id: str


def _train_once(project: str) -> tuple[str, str]:
    """Run examples/train.py (one epoch) into the project's experiment; its run and logged model."""
    url = gateway.base_url()
    if url not in _logged:
        import mlflow

        from examples import train

        experiment_id = gateway.ensure_experiment(project, "serving")
        before = dict(os.environ)
        os.environ.update({"MLFLOW_TRACKING_URI": url, "MLFLOW_EXPERIMENT_ID": experiment_id})
        try:
            mlflow.set_tracking_uri(url)
            train.main(["--epochs", "1"])
            run_id = mlflow.last_active_run().info.run_id
        finally:
            os.environ.clear()
            os.environ.update(before)
            mlflow.set_tracking_uri("")
        (logged,) = gateway.run_logged_models(experiment_id, run_id)
        _logged[url] = (run_id, logged["model_id"])
    return _logged[url]


def load_directly(model_uri: str):
    """The model as MLflow loads it straight from the tracking server (no portal)."""
    import mlflow

    mlflow.set_tracking_uri(gateway.base_url())
    mlflow.set_registry_uri(gateway.base_url())
    try:
        return mlflow.pyfunc.load_model(model_uri)
    finally:
        mlflow.set_tracking_uri("")
        mlflow.set_registry_uri("")


@pytest.fixture
def registered(personas, mlflow_uri) -> Registered:
    """``genomics.digits`` v1 and v2 (the same logged model), ``@champion`` on v1; removed after."""
    slug = personas.project.slug
    run_id, model_id = _train_once(slug)
    full_name = gateway.model_name(slug, MODEL)
    for _ in range(2):
        gateway.register_version(slug, full_name, f"models:/{model_id}", run_id, model_id=model_id)
    gateway.set_alias(full_name, "champion", "1")
    yield Registered(MODEL, full_name, run_id, model_id)
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=gateway.base_url(), registry_uri=gateway.base_url()).delete_registered_model(
        full_name
    )


@pytest.fixture
def serving(settings, live_server, mlflow_uri):
    """The serving process's loop (manage.py serve_models), driven by the test with ``until``;
    the model servers fetch their models through this test's portal."""
    settings.TALLER_JOB_TRACKING_URI = f"{live_server.url}/mlflow"
    settings.TALLER_DEPLOY_DRAIN_SECONDS = 3600  # an old server drains until the test stops it
    loop = LocalServing()

    def until(check, deployment: Deployment, timeout: float = 150) -> Deployment:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            loop.tick()
            deployment.refresh_from_db()
            if check(deployment):
                return deployment
            if deployment.status == DeploymentStatus.FAILED:
                break
            time.sleep(0.3)
        raise AssertionError("not reached: {deployment.status} {deployment.status_reason}")

    loop.until = until
    yield loop
    loop.stop_all()
