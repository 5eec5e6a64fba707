"""One valid raw-HTTP request for every route of the tracking proxy's table, aimed at one project.

`CASES` is keyed like `experiments.proxy_policy.ROUTES`, and the tests check that the two have the
same keys: a route added to the proxy without a case here fails them. A case gets a `World`
(one project's objects, made straight on MLflow, not through the proxy) and returns the
request; routes that delete or rename get objects of their own, so each call has something
to act on.
"""

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from experiments import gateway

from .conftest import Logged, log_example

API = "api/2.0/mlflow/"


def _uid() -> str:
    return uuid.uuid4().hex[:8]


class World:
    """A project's MLflow objects for the proxy tests, and fresh ones on demand."""

    def __init__(self, project: str) -> None:
        from mlflow import MlflowClient

        self.project = project
        self.base: Logged = log_example(project)
        self.client = MlflowClient(tracking_uri=gateway.base_url(), registry_uri=gateway.base_url())
        self.version = self.client.get_registered_model(self.base.model).latest_versions[-1].version
        self.client.set_registered_model_alias(self.base.model, "champion", self.version)

    @property
    def experiment_id(self) -> str:
        return self.base.experiment_id

    @property
    def run_id(self) -> str:
        return self.base.run_id

    @property
    def model(self) -> str:
        return self.base.model

    @property
    def logged_model_id(self) -> str:
        return self.base.logged_model_id

    def experiment(self, deleted: bool = False) -> str:
        experiment_id = gateway.ensure_experiment(self.project, f"fresh-{_uid()}")
        if deleted:
            self.client.delete_experiment(experiment_id)
        return experiment_id

    def run(self, deleted: bool = False) -> str:
        run_id = self.client.create_run(
            self.experiment_id, tags={gateway.PROJECT_TAG: self.project}
        ).info.run_id
        if deleted:
            self.client.delete_run(run_id)
        return run_id

    def registered_model(self) -> str:
        name = f"{self.project}.fresh{_uid()}"
        self.client.create_registered_model(name, tags={gateway.PROJECT_TAG: self.project})
        return name

    def model_version(self) -> str:
        return self.client.create_model_version(
            self.model, f"runs:/{self.run_id}/notes", run_id=self.run_id
        ).version

    def logged_model(self) -> str:
        return self.client.create_logged_model(self.experiment_id, name="fresh").model_id


@dataclass
class Request:
    method: str
    route: str  # under /mlflow/
    params: dict | None = None  # a GET's query
    body: dict | None = None  # a JSON body
    narrowed: str = ""  # a search: the answer's list, narrowed to the token's projects

    def kwargs(self) -> dict:
        kwargs: dict = {}
        if self.params is not None:
            kwargs["params"] = self.params
        if self.body is not None:
            kwargs["json"] = self.body
        return kwargs


@dataclass
class Case:
    build: Callable[[World], Request]
    writes: bool


def _get(route: str, **params) -> Request:
    return Request("GET", API + route, params=params)


def _send(method: str, route: str, **body) -> Request:
    return Request(method, API + route, body=body)


def _model_json(run_id: str) -> str:
    return json.dumps(
        {
            "run_id": run_id,
            "artifact_path": "model",
            "flavors": {"python_function": {}},
            "utc_time_created": "2026-01-01 00:00:00.000000",
        }
    )


def _exp_tagged(w: World) -> str:
    w.client.set_experiment_tag(w.experiment_id, "k", "v")
    return w.experiment_id


def _run_tagged(w: World) -> str:
    w.client.set_tag(w.run_id, "note", "x")
    return w.run_id


def _model_tagged(w: World) -> str:
    w.client.set_registered_model_tag(w.model, "k", "v")
    return w.model


def _version_tagged(w: World) -> str:
    w.client.set_model_version_tag(w.model, w.version, "k", "v")
    return w.version


def _logged_tagged(w: World) -> str:
    w.client.set_logged_model_tags(w.logged_model_id, {"k": "v"})
    return w.logged_model_id


def _alias_set(w: World) -> str:
    w.client.set_registered_model_alias(w.model, "spare", w.version)
    return "spare"


NOW = int(time.time() * 1000)
R, W = False, True

CASES: dict[tuple[str, str], Case] = {
    ("POST", "experiments/create"): Case(
        lambda w: _send("POST", "experiments/create", name=f"{w.project}/new-{_uid()}"), W
    ),
    ("GET", "experiments/get"): Case(lambda w: _get("experiments/get", experiment_id=w.experiment_id), R),
    ("GET", "experiments/get-by-name"): Case(
        lambda w: _get("experiments/get-by-name", experiment_name=f"{w.project}/demo"), R
    ),
    ("GET", "experiments/search"): Case(
        lambda w: Request(
            "GET", API + "experiments/search", params={"max_results": 1000}, narrowed="experiments"
        ),
        R,
    ),
    ("POST", "experiments/search"): Case(
        lambda w: Request(
            "POST", API + "experiments/search", body={"max_results": 1000}, narrowed="experiments"
        ),
        R,
    ),
    ("POST", "experiments/delete"): Case(
        lambda w: _send("POST", "experiments/delete", experiment_id=w.experiment()), W
    ),
    ("POST", "experiments/restore"): Case(
        lambda w: _send("POST", "experiments/restore", experiment_id=w.experiment(deleted=True)), W
    ),
    ("POST", "experiments/update"): Case(
        lambda w: _send(
            "POST",
            "experiments/update",
            experiment_id=w.experiment(),
            new_name=f"{w.project}/renamed-{_uid()}",
        ),
        W,
    ),
    ("POST", "experiments/set-experiment-tag"): Case(
        lambda w: _send(
            "POST", "experiments/set-experiment-tag", experiment_id=w.experiment_id, key="k", value="v"
        ),
        W,
    ),
    ("POST", "experiments/delete-experiment-tag"): Case(
        lambda w: _send("POST", "experiments/delete-experiment-tag", experiment_id=_exp_tagged(w), key="k"), W
    ),
    ("POST", "runs/create"): Case(
        lambda w: _send(
            "POST", "runs/create", experiment_id=w.experiment_id, tags=[{"key": "a", "value": "b"}]
        ),
        W,
    ),
    ("GET", "runs/get"): Case(lambda w: _get("runs/get", run_id=w.run_id), R),
    ("POST", "runs/search"): Case(
        lambda w: _send("POST", "runs/search", experiment_ids=[w.experiment_id]), R
    ),
    ("POST", "runs/update"): Case(
        lambda w: _send("POST", "runs/update", run_id=w.run_id, status="FINISHED"), W
    ),
    ("POST", "runs/delete"): Case(lambda w: _send("POST", "runs/delete", run_id=w.run()), W),
    ("POST", "runs/restore"): Case(lambda w: _send("POST", "runs/restore", run_id=w.run(deleted=True)), W),
    ("POST", "runs/log-metric"): Case(
        lambda w: _send(
            "POST",
            "runs/log-metric",
            run_id=w.run_id,
            key="m",
            value=1.5,
            timestamp=NOW,
            step=1,
            model_id=w.logged_model_id,
        ),
        W,
    ),
    ("POST", "runs/log-parameter"): Case(
        lambda w: _send("POST", "runs/log-parameter", run_id=w.run_id, key=f"p{_uid()}", value="1"), W
    ),
    ("POST", "runs/set-tag"): Case(
        lambda w: _send("POST", "runs/set-tag", run_id=w.run_id, key="note", value="x"), W
    ),
    ("POST", "runs/delete-tag"): Case(
        lambda w: _send("POST", "runs/delete-tag", run_id=_run_tagged(w), key="note"), W
    ),
    ("POST", "runs/log-batch"): Case(
        lambda w: _send(
            "POST",
            "runs/log-batch",
            run_id=w.run_id,
            metrics=[
                {
                    "key": "x",
                    "value": 1,
                    "timestamp": NOW,
                    "step": 0,
                    "model_id": w.logged_model_id,
                    "run_id": w.run_id,
                }
            ],
            params=[{"key": f"b{_uid()}", "value": "1"}],
            tags=[{"key": "t", "value": "1"}],
        ),
        W,
    ),
    ("POST", "runs/log-model"): Case(
        lambda w: _send("POST", "runs/log-model", run_id=w.run_id, model_json=_model_json(w.run_id)), W
    ),
    ("POST", "runs/log-inputs"): Case(
        lambda w: _send(
            "POST",
            "runs/log-inputs",
            run_id=w.run_id,
            datasets=[
                {
                    "tags": [{"key": "mlflow.data.context", "value": "train"}],
                    "dataset": {"name": "d", "digest": "abc", "source_type": "local", "source": "{}"},
                }
            ],
            models=[{"model_id": w.logged_model_id}],
        ),
        W,
    ),
    ("POST", "runs/outputs"): Case(
        lambda w: _send(
            "POST", "runs/outputs", run_id=w.run_id, models=[{"model_id": w.logged_model(), "step": 0}]
        ),
        W,
    ),
    ("GET", "metrics/get-history"): Case(
        lambda w: _get("metrics/get-history", run_id=w.run_id, metric_key="loss"), R
    ),
    ("GET", "metrics/get-history-bulk-interval"): Case(
        lambda w: Request(
            "GET",
            "ajax-api/2.0/mlflow/metrics/get-history-bulk-interval",
            params={"run_ids": [w.run_id], "metric_key": "loss"},
        ),
        R,
    ),
    ("GET", "artifacts/list"): Case(lambda w: _get("artifacts/list", run_id=w.run_id), R),
    ("POST", "registered-models/create"): Case(
        lambda w: _send("POST", "registered-models/create", name=f"{w.project}.new{_uid()}"), W
    ),
    ("GET", "registered-models/get"): Case(lambda w: _get("registered-models/get", name=w.model), R),
    ("GET", "registered-models/search"): Case(
        lambda w: Request(
            "GET",
            API + "registered-models/search",
            params={"max_results": 1000},
            narrowed="registered_models",
        ),
        R,
    ),
    ("POST", "registered-models/rename"): Case(
        lambda w: _send(
            "POST",
            "registered-models/rename",
            name=w.registered_model(),
            new_name=f"{w.project}.renamed{_uid()}",
        ),
        W,
    ),
    ("PATCH", "registered-models/update"): Case(
        lambda w: _send("PATCH", "registered-models/update", name=w.model, description="d"), W
    ),
    ("DELETE", "registered-models/delete"): Case(
        lambda w: _send("DELETE", "registered-models/delete", name=w.registered_model()), W
    ),
    ("GET", "registered-models/get-latest-versions"): Case(
        lambda w: _get("registered-models/get-latest-versions", name=w.model), R
    ),
    ("POST", "registered-models/get-latest-versions"): Case(
        lambda w: _send("POST", "registered-models/get-latest-versions", name=w.model), R
    ),
    ("POST", "registered-models/set-tag"): Case(
        lambda w: _send("POST", "registered-models/set-tag", name=w.model, key="k", value="v"), W
    ),
    ("DELETE", "registered-models/delete-tag"): Case(
        lambda w: _send("DELETE", "registered-models/delete-tag", name=_model_tagged(w), key="k"), W
    ),
    ("POST", "registered-models/alias"): Case(
        lambda w: _send("POST", "registered-models/alias", name=w.model, alias="best", version=w.version), W
    ),
    ("DELETE", "registered-models/alias"): Case(
        lambda w: _send("DELETE", "registered-models/alias", name=w.model, alias=_alias_set(w)), W
    ),
    ("GET", "registered-models/alias"): Case(
        lambda w: _get("registered-models/alias", name=w.model, alias="champion"), R
    ),
    ("POST", "model-versions/create"): Case(
        lambda w: _send(
            "POST",
            "model-versions/create",
            name=w.model,
            source=f"models:/{w.logged_model_id}",
            run_id=w.run_id,
            model_id=w.logged_model_id,
        ),
        W,
    ),
    ("GET", "model-versions/get"): Case(
        lambda w: _get("model-versions/get", name=w.model, version=w.version), R
    ),
    ("GET", "model-versions/get-download-uri"): Case(
        lambda w: _get("model-versions/get-download-uri", name=w.model, version=w.version), R
    ),
    ("GET", "model-versions/search"): Case(
        lambda w: Request(
            "GET", API + "model-versions/search", params={"max_results": 1000}, narrowed="model_versions"
        ),
        R,
    ),
    ("PATCH", "model-versions/update"): Case(
        lambda w: _send("PATCH", "model-versions/update", name=w.model, version=w.version, description="d"), W
    ),
    ("DELETE", "model-versions/delete"): Case(
        lambda w: _send("DELETE", "model-versions/delete", name=w.model, version=w.model_version()), W
    ),
    ("POST", "model-versions/set-tag"): Case(
        lambda w: _send(
            "POST", "model-versions/set-tag", name=w.model, version=w.version, key="k", value="v"
        ),
        W,
    ),
    ("DELETE", "model-versions/delete-tag"): Case(
        lambda w: _send(
            "DELETE", "model-versions/delete-tag", name=w.model, version=_version_tagged(w), key="k"
        ),
        W,
    ),
    ("POST", "model-versions/transition-stage"): Case(
        lambda w: _send(
            "POST",
            "model-versions/transition-stage",
            name=w.model,
            version=w.version,
            stage="Staging",
            archive_existing_versions=False,
        ),
        W,
    ),
    ("POST", "logged-models"): Case(
        lambda w: _send(
            "POST",
            "logged-models",
            experiment_id=w.experiment_id,
            name="other",
            source_run_id=w.run_id,
            tags=[{"key": "a", "value": "b"}],
        ),
        W,
    ),
    ("POST", "logged-models/search"): Case(
        lambda w: _send("POST", "logged-models/search", experiment_ids=[w.experiment_id]), R
    ),
    ("GET", "logged-models/{model_id}"): Case(lambda w: _get(f"logged-models/{w.logged_model_id}"), R),
    ("PATCH", "logged-models/{model_id}"): Case(
        lambda w: _send(
            "PATCH", f"logged-models/{(m := w.logged_model())}", model_id=m, status="LOGGED_MODEL_READY"
        ),
        W,
    ),
    ("DELETE", "logged-models/{model_id}"): Case(
        lambda w: _send("DELETE", f"logged-models/{w.logged_model()}"), W
    ),
    ("POST", "logged-models/{model_id}/params"): Case(
        lambda w: _send(
            "POST",
            f"logged-models/{w.logged_model_id}/params",
            model_id=w.logged_model_id,
            params=[{"key": f"k{_uid()}", "value": "v"}],
        ),
        W,
    ),
    ("PATCH", "logged-models/{model_id}/tags"): Case(
        lambda w: _send(
            "PATCH",
            f"logged-models/{w.logged_model_id}/tags",
            model_id=w.logged_model_id,
            tags=[{"key": "k", "value": "v"}],
        ),
        W,
    ),
    ("DELETE", "logged-models/{model_id}/tags/{tag_key}"): Case(
        lambda w: _send("DELETE", f"logged-models/{_logged_tagged(w)}/tags/k"), W
    ),
    ("GET", "logged-models/{model_id}/artifacts/directories"): Case(
        lambda w: _get(f"logged-models/{w.logged_model_id}/artifacts/directories"), R
    ),
}
