"""The embedded default for real: `mlflow models serve` of the example's scikit-learn model,
fetched through the portal's tracking proxy with the deployment's own token, rolled to a new
version without a gap, rolled back, and a rollout that fails leaving the previous one serving."""

import os
import threading

import mlflow
import pytest
import requests
from sklearn.datasets import load_digits

from deployments import actions, keys
from deployments.models import DeploymentStatus
from experiments import gateway
from portal.accounts.models import ApiToken

from .conftest import load_directly

pytestmark = pytest.mark.django_db(transaction=True)


class Unloadable(mlflow.pyfunc.PythonModel):
    """Pickled by reference to this test module, which a model server cannot import."""

    def predict(self, context, model_input: list[float]) -> list[float]:
        return model_input


def predict(address: str, rows, key: str | None = None) -> list:
    headers = {"Authorization": f"Token {key}"} if key else {}
    answer = requests.post(
        f"{address}/invocations", json={"inputs": rows.tolist()}, headers=headers, timeout=30
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["predictions"]


class Caller(threading.Thread):
    """Calls through the portal, one call after another, until told to stop; keeps each status."""

    def __init__(self, url: str, key: str, rows) -> None:
        super().__init__(daemon=True)
        self.url, self.key, self.rows = url, key, rows
        self.statuses: list[int] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            answer = requests.post(
                f"{self.url}/invocations",
                json={"inputs": self.rows.tolist()},
                headers={"Authorization": f"Token {self.key}"},
                timeout=30,
            )
            self.statuses.append(answer.status_code)


def _broken_version(slug: str, registered) -> str:
    mlflow.set_tracking_uri(gateway.base_url())
    try:
        with mlflow.start_run(experiment_id=gateway.ensure_experiment(slug, "serving")) as run:
            broken = mlflow.pyfunc.log_model(name="broken", python_model=Unloadable(), pip_requirements=[])
    finally:
        mlflow.set_tracking_uri("")
    version = gateway.register_version(
        slug, registered.full_name, f"models:/{broken.model_id}", run.info.run_id, model_id=broken.model_id
    )
    return version["version"]


def test_a_model_is_served_a_failed_rollout_keeps_it_and_a_good_one_switches(
    personas, registered, serving, live_server, settings
):
    settings.TALLER_SERVE_KEY_RATE = "1000000/m"  # the caller below calls as fast as it is answered
    rows = load_digits().data[:5]
    expected = load_directly(f"models:/{registered.full_name}/1").predict(rows).tolist()
    broken = _broken_version(personas.project.slug, registered)
    deployment = actions.create_deployment(
        personas.bob,
        personas.project,
        name="digits",
        model=registered.name,
        version="1",
        cpu="0.5",
        memory_mib=512,
    )
    deployment = serving.until(lambda d: d.status == DeploymentStatus.RUNNING, deployment)
    assert deployment.serving_version == "1"
    assert predict(deployment.address, rows) == expected
    token = ApiToken.objects.get(pk=deployment.token_id)
    assert token.is_workload_token() and token.project_id == personas.project.pk
    first = deployment.address
    portal = f"{live_server.url}/serve/genomics/digits"
    _key, raw = keys.create_key(personas.alice, deployment, "demo page")
    assert predict(portal, rows, raw) == expected  # through the portal, with the deployment's key

    # A version whose model the server cannot load: the rollout fails, v1 never stops answering.
    actions.update_version(personas.bob, deployment, version=broken)
    deployment = serving.until(lambda d: "did not start" in d.status_reason, deployment)
    assert (deployment.version, deployment.serving_version, deployment.status) == (
        "1",
        "1",
        DeploymentStatus.RUNNING,
    )
    assert deployment.address == first
    assert predict(first, rows) == expected

    # A good one: started beside the old server, which answers until the switch and drains after.
    caller = Caller(portal, raw, rows)
    caller.start()
    actions.update_version(personas.bob, deployment, version="2")
    serving.tick()
    assert predict(first, rows) == expected
    deployment = serving.until(lambda d: d.serving_version == "2", deployment)
    assert predict(portal, rows, raw) == expected
    caller.done.set()
    caller.join()
    assert caller.statuses and set(caller.statuses) == {200}  # no call dropped during the switch
    assert deployment.address != first and deployment.status == DeploymentStatus.RUNNING
    assert deployment.previous_version == "1"
    assert predict(first, rows) == expected
    assert predict(deployment.address, rows) == expected

    server = serving.serving[deployment.pk]
    actions.stop(personas.bob, deployment)
    serving.tick()
    # Its whole process group is gone (asked of the kernel: its port may already serve another
    # process of this busy machine, so a refused connection would prove less).
    assert deployment.pk not in serving.serving and not server.alive()
    with pytest.raises(ProcessLookupError):
        os.killpg(server.process.pid, 0)
    assert ApiToken.objects.get(pk=deployment.token_id).revoked_at is not None
