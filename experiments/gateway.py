"""The one module that talks to MLflow. It knows which experiments belong to which project and
returns plain data; every MLflow failure leaves it as a GatewayError.

Projects are scoped by MLflow's own naming and tags: a project's experiments are named
``<slug>/<name>`` and tagged ``taller.project=<slug>``. (MLflow workspaces are still
experimental in the 3.x line; names and tags work with every tracking store.)
"""

import functools
import hashlib
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote, urlparse

import requests
from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _
from mlflow.environment_variables import MLFLOW_HTTP_REQUEST_MAX_RETRIES, MLFLOW_HTTP_REQUEST_TIMEOUT
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

PROJECT_TAG = "taller.project"
JOB_TAG = "taller.job_id"

logger = logging.getLogger(__name__)


class GatewayError(Exception):
    """MLflow refused or failed. ``status`` is the HTTP status to answer with (404, 400, 502)."""

    def __init__(self, message: str, *, status: int = 502, retryable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


def configure() -> None:
    """Bound every call of MLflow's client: one try, at most MLFLOW_TIMEOUT_SECONDS, so no page
    waits on MLflow longer. MLflow's client reads these two of its settings only from the process
    environment, on every request (``mlflow/utils/rest_utils.py``), so they are set there once: when
    the app is ready, and again if the setting changes (tests)."""
    MLFLOW_HTTP_REQUEST_TIMEOUT.set(settings.MLFLOW_TIMEOUT_SECONDS)
    MLFLOW_HTTP_REQUEST_MAX_RETRIES.set(0)


def _client() -> MlflowClient:
    # The registry explicitly too: otherwise a process-wide registry URI (or env) could win.
    uri = settings.MLFLOW_TRACKING_URI
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _error(error: MlflowException) -> GatewayError:
    code = getattr(error, "error_code", "")
    message = client_message(code, error.message)
    if code in {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"}:
        return GatewayError(message, status=404)
    if code in {"INVALID_PARAMETER_VALUE", "BAD_REQUEST", "INVALID_STATE"}:
        return GatewayError(message, status=400)
    return GatewayError(message, status=502, retryable=True)


@contextmanager
def _calling() -> Iterator[None]:
    """Turn MLflow's and the network's errors into GatewayErrors."""
    try:
        yield
    except MlflowException as error:
        raise _error(error) from error
    except OSError as error:
        raise GatewayError(unreachable(error), retryable=True) from error


# What a user is shown of MLflow's errors. MLflow's own validation messages (a bad filter, an
# unknown run) are what a user needs to fix a request, so those codes keep their text. Any other
# code may carry the database's error word for word (MLflow wraps SQLAlchemy's error, with the
# statement and its parameters, into BAD_REQUEST, RESOURCE_ALREADY_EXISTS,
# TEMPORARILY_UNAVAILABLE and INTERNAL_ERROR answers), a traceback or the tracking server's
# address: those are logged here and the user gets a message that says what kind of failure it
# was. A shown code whose text still looks like one of those is treated the same way.
_SHOWN_CODES = frozenset({"INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "INVALID_STATE"})
_INTERNAL_MARKERS = ("[SQL:", "sqlalche.me", "sqlite3", "SQLite", "psycopg", "pymysql", "Traceback (")


def client_message(code: str, message: object) -> str:
    """The part of an MLflow error message a client may see; the rest goes to the log."""
    text = str(message or "")
    if code in _SHOWN_CODES and text and not _looks_internal(text):
        return text
    logger.warning("MLflow answered %s: %s", code or "an error", text)
    if code == "RESOURCE_ALREADY_EXISTS":
        return _("MLflow already has an object of that name.")
    if code in {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"}:
        return _("MLflow has no such object.")
    if code in {"INVALID_PARAMETER_VALUE", "BAD_REQUEST", "INVALID_STATE"}:
        return _("MLflow refused the request; the details are in the portal's log.")
    return _("MLflow failed to handle the request; the details are in the portal's log.")


def _looks_internal(text: str) -> bool:
    server = urlparse(settings.MLFLOW_TRACKING_URI).netloc
    return any(marker in text for marker in _INTERNAL_MARKERS) or bool(server and server in text)


def unreachable(error: Exception) -> str:
    """The message for a tracking server that could not be reached (the details are logged)."""
    logger.warning("MLflow is unreachable: %s", error)
    return _("MLflow is unreachable; try again shortly.")


@functools.cache
def request_messages() -> dict:
    """The protobuf message MLflow's server parses each REST request into, read from its own
    service descriptors: {(HTTP method, path under api/2.0/mlflow/): message descriptor}, paths
    as MLflow declares them (``logged-models/{model_id}``). The tracking proxy checks requests
    against these, so it reads every field under every spelling the server accepts.
    """
    from mlflow.protos import databricks_pb2
    from mlflow.protos.model_registry_pb2 import ModelRegistryService
    from mlflow.protos.service_pb2 import MlflowService

    messages = {}
    for service in (MlflowService, ModelRegistryService):
        for method in service.DESCRIPTOR.methods:
            for endpoint in method.GetOptions().Extensions[databricks_pb2.rpc].endpoints:
                if endpoint.since.major == 2:
                    messages[(endpoint.method, endpoint.path.removeprefix("/mlflow/"))] = method.input_type
    return messages


def experiment_name(project: str, name: str) -> str:
    return f"{project}/{name}"


def ensure_experiment(project: str, name: str = "default") -> str:
    """The id of the project's experiment ``name``, created (and tagged) the first time."""
    client = _client()
    full_name = experiment_name(project, name)
    with _calling():
        experiment = client.get_experiment_by_name(full_name)
        if experiment is not None:
            if experiment.tags.get(PROJECT_TAG) != project:
                raise GatewayError(
                    f"experiment {full_name!r} does not belong to project {project!r}", status=409
                )
            return experiment.experiment_id
        try:
            return client.create_experiment(full_name, tags={PROJECT_TAG: project})
        except MlflowException as error:
            if getattr(error, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
                raise
        # Created concurrently by another worker: use theirs.
        return client.get_experiment_by_name(full_name).experiment_id


def create_job_run(project: str, experiment: str, job_id: int, run_name: str, user: str) -> tuple[str, str]:
    """Create the MLflow run a job logs into; returns (experiment_id, run_id)."""
    experiment_id = ensure_experiment(project, experiment)
    with _calling():
        run = _client().create_run(
            experiment_id,
            run_name=run_name,
            tags={PROJECT_TAG: project, JOB_TAG: str(job_id), "mlflow.user": user},
        )
    return experiment_id, run.info.run_id


def finish_run(run_id: str, status: str) -> None:
    """End a job's run: status is FINISHED, FAILED or KILLED."""
    with _calling():
        _client().set_terminated(run_id, status=status)


def set_run_tags(run_id: str, tags: dict[str, str]) -> None:
    client = _client()
    with _calling():
        for key, value in tags.items():
            client.set_tag(run_id, key, value)


def log_text_artifact(run_id: str, text: str, artifact_file: str) -> None:
    """Attach text (a job's final log) to a run as an artifact."""
    with _calling():
        _client().log_text(run_id, text, artifact_file)


# ---------------------------------------------------------------------------------------------
# Browsing: experiments, runs, metrics, artifacts and registered models of one project.
# Everything below returns plain dicts and raises GatewayError; nothing loads more than a page.

SCOPE_CACHE_SECONDS = 3600


def _cache_key(kind: str, object_id: str) -> str:
    """Scope cache keys by tracking server: ids are only unique within one."""
    server = hashlib.sha1(settings.MLFLOW_TRACKING_URI.encode()).hexdigest()[:10]
    return f"mlflow:{server}:{kind}:{object_id}"


def filter_literal(value: str) -> str:
    """A string literal for MLflow's filter syntax."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def project_filter(project: str) -> str:
    return f"tags.`{PROJECT_TAG}` = {filter_literal(project)}"


def _and(*clauses: str | None) -> str:
    return " and ".join(f"{clause}" for clause in clauses if clause and clause.strip())


def _experiment(experiment) -> dict:
    return {
        "experiment_id": experiment.experiment_id,
        "name": experiment.name,
        "short_name": experiment.name.split("/", 1)[-1],
        "project": experiment.tags.get(PROJECT_TAG, ""),
        "artifact_location": experiment.artifact_location,
        "lifecycle_stage": experiment.lifecycle_stage,
        "tags": {k: v for k, v in experiment.tags.items() if not k.startswith("mlflow.")},
        "creation_time": experiment.creation_time,
        "last_update_time": experiment.last_update_time,
    }


def list_experiments(project: str, *, max_results: int = 50, page_token: str | None = None) -> dict:
    """One page of the project's experiments: {"experiments": [...], "next_page_token": str|None}."""
    name_filter = f"name LIKE {filter_literal(project + '/%')}"
    with _calling():
        page = _client().search_experiments(
            max_results=max_results,
            filter_string=_and(project_filter(project), name_filter),
            order_by=["name ASC"],
            page_token=page_token or None,
        )
    return {"experiments": [_experiment(e) for e in page], "next_page_token": page.token or None}


def experiment_project(experiment_id: str) -> str:
    """The project an experiment belongs to ('' for none). Cached: the project tag never moves."""
    key = _cache_key("exp", experiment_id)
    project = cache.get(key)
    if project is None:
        with _calling():
            experiment = _client().get_experiment(str(experiment_id))
        project = owner_of(experiment.name, experiment.tags.get(PROJECT_TAG, ""))
        cache.set(key, project, SCOPE_CACHE_SECONDS)
    return project


def owner_of(name: str, tag: str) -> str:
    """An experiment belongs to a project only when its tag and its name prefix agree."""
    return tag if tag and name.startswith(f"{tag}/") else ""


EXPERIMENT_CACHE_SECONDS = 60


def get_experiment(project: str, experiment_id: str) -> dict:
    """One experiment of the project; 404 for an experiment of another project.

    Cached for a minute, so that a page of runs costs MLflow one call (the search), not two.
    """
    key = _cache_key("experiment", experiment_id)
    data = cache.get(key)
    if data is None:
        with _calling():
            experiment = _client().get_experiment(str(experiment_id))
        data = _experiment(experiment)
        data["owner"] = owner_of(experiment.name, data["project"])
        cache.set(key, data, EXPERIMENT_CACHE_SECONDS)
        cache.set(_cache_key("exp", experiment_id), data["owner"], SCOPE_CACHE_SECONDS)
    if data["owner"] != project:
        raise GatewayError(_("No experiment %(id)s in this project.") % {"id": experiment_id}, status=404)
    return data


def _run(run) -> dict:
    info, data = run.info, run.data
    tags = dict(data.tags)
    return {
        "run_id": info.run_id,
        "run_name": info.run_name or tags.get("mlflow.runName", ""),
        "experiment_id": info.experiment_id,
        "status": info.status,
        "start_time": info.start_time,
        "end_time": info.end_time,
        "user": info.user_id or tags.get("mlflow.user", ""),
        "artifact_uri": info.artifact_uri,
        "lifecycle_stage": info.lifecycle_stage,
        "params": dict(sorted(data.params.items())),
        "metrics": dict(sorted(data.metrics.items())),
        "tags": dict(sorted(tags.items())),
        "job_id": tags.get(JOB_TAG, ""),
    }


def search_runs(
    experiment_ids: list[str],
    *,
    filter_string: str = "",
    order_by: list[str] | None = None,
    max_results: int = 50,
    page_token: str | None = None,
) -> dict:
    """One page of runs (server-side paging). The caller has checked the experiments' project.

    A malformed filter or order_by is a 400 with MLflow's own message.
    """
    # The REST call itself, not MlflowClient: the page needs JSON, and skipping the protobuf
    # round trip keeps the portal's overhead over MLflow's own search small (see bench/).
    body = {
        "experiment_ids": [str(e) for e in experiment_ids],
        "filter": filter_string or "",
        "max_results": max_results,
        "order_by": [o for o in (order_by or []) if o],
        "run_view_type": "ACTIVE_ONLY",
    }
    if page_token:
        body["page_token"] = page_token
    answer = _request_json("POST", "api/2.0/mlflow/runs/search", json=body)
    return {
        "runs": [_run_json(r) for r in answer.get("runs", [])],
        "next_page_token": answer.get("next_page_token") or None,
    }


def _run_json(run: dict) -> dict:
    """A run of MLflow's REST answer as the same plain dict as ``_run``."""
    info, data = run.get("info", {}), run.get("data", {})
    tags = {t["key"]: t.get("value", "") for t in data.get("tags", [])}
    return {
        "run_id": info.get("run_id") or info.get("run_uuid", ""),
        "run_name": info.get("run_name") or tags.get("mlflow.runName", ""),
        "experiment_id": info.get("experiment_id", ""),
        "status": info.get("status", ""),
        "start_time": _int(info.get("start_time")),
        "end_time": _int(info.get("end_time")),
        "user": info.get("user_id") or tags.get("mlflow.user", ""),
        "artifact_uri": info.get("artifact_uri", ""),
        "lifecycle_stage": info.get("lifecycle_stage", ""),
        "params": dict(sorted((p["key"], p.get("value", "")) for p in data.get("params", []))),
        "metrics": dict(sorted((m["key"], _float(m.get("value"))) for m in data.get("metrics", []))),
        "tags": dict(sorted(tags.items())),
        "job_id": tags.get(JOB_TAG, ""),
    }


def _int(value) -> int | None:
    return int(value) if value not in (None, "") else None


def _float(value) -> float | None:
    if value in (None, ""):
        return None
    return float(value)  # also 'NaN' and 'Infinity', as MLflow writes them


def run_project(run_id: str) -> tuple[str, str]:
    """(project, experiment_id) of a run, cached: a run never changes experiment."""
    key = _cache_key("run", run_id)
    experiment_id = cache.get(key)
    if experiment_id is None:
        with _calling():
            experiment_id = _client().get_run(run_id).info.experiment_id
        cache.set(key, experiment_id, SCOPE_CACHE_SECONDS)
    return experiment_project(experiment_id), experiment_id


def get_run(project: str, run_id: str) -> dict:
    """A run with its params, latest metrics and tags; 404 unless its experiment is the project's."""
    if not looks_like_id(run_id):
        raise GatewayError(_("Run '%(id)s' not found.") % {"id": run_id}, status=404)
    with _calling():
        run = _client().get_run(run_id)
    if experiment_project(run.info.experiment_id) != project:
        raise GatewayError(_("Run '%(id)s' not found.") % {"id": run_id}, status=404)
    cache.set(_cache_key("run", run_id), run.info.experiment_id, SCOPE_CACHE_SECONDS)
    return _run(run)


def check_run(project: str, run_id: str) -> str:
    """The experiment id of a run of the project; 404 otherwise. Usually answered from the cache."""
    if not looks_like_id(run_id):
        raise GatewayError(_("Run '%(id)s' not found.") % {"id": run_id}, status=404)
    owner, experiment_id = run_project(run_id)
    if owner != project:
        raise GatewayError(_("Run '%(id)s' not found.") % {"id": run_id}, status=404)
    return experiment_id


def looks_like_id(value: str) -> bool:
    return bool(value) and len(value) <= 64 and all(c.isalnum() or c in "-_" for c in value)


def get_runs(project: str, run_ids: list[str]) -> list[dict]:
    """Several runs of the project in one search call, in the order asked."""
    experiment_ids = sorted({check_run(project, run_id) for run_id in run_ids})
    if not experiment_ids:
        return []
    found = search_runs(
        experiment_ids,
        filter_string=f"attributes.run_id IN ({', '.join(filter_literal(r) for r in run_ids)})",
        max_results=len(run_ids),
    )["runs"]
    by_id = {run["run_id"]: run for run in found}
    return [by_id[run_id] for run_id in run_ids if run_id in by_id]


def metric_history(run_id: str, key: str) -> list[dict]:
    """Every point of one metric of one run (the caller has checked the run's project)."""
    with _calling():
        points = _client().get_metric_history(run_id, key)
    return [{"step": p.step, "value": p.value, "timestamp": p.timestamp} for p in points]


def metric_histories(run_ids: list[str], key: str, *, max_points: int = 500) -> dict[str, list[dict]]:
    """One metric's history for up to 100 runs in one call, sampled by MLflow to max_points a run."""
    params = [("run_ids", r) for r in run_ids] + [("metric_key", key), ("max_results", str(max_points))]
    body = _request_json("GET", "ajax-api/2.0/mlflow/metrics/get-history-bulk-interval", params=params)
    histories: dict[str, list[dict]] = {run_id: [] for run_id in run_ids}
    for point in body.get("metrics", []):
        histories.setdefault(point.get("run_id", ""), []).append(
            {
                "step": int(point.get("step", 0)),
                "value": point.get("value"),
                "timestamp": point.get("timestamp"),
            }
        )
    return histories


# MLflow's REST API, for what MlflowClient does not do (JSON pages, bulk histories, artifact
# streams) and for the tracking proxy, which forwards what it has checked: one keep-alive session
# per thread, every call bounded by MLFLOW_TIMEOUT_SECONDS.

_local = threading.local()


def base_url() -> str:
    """The tracking server's address, without a trailing slash."""
    return settings.MLFLOW_TRACKING_URI.rstrip("/")


def _session() -> requests.Session:
    if getattr(_local, "session", None) is None:
        _local.session = requests.Session()
    return _local.session


def send(method: str, path: str, *, read_timeout: float | None = None, **kwargs) -> requests.Response:
    """One request to the tracking server (``path`` under its address, e.g. ``api/2.0/mlflow/...``),
    answered as it came, errors included. A server that cannot be reached is a GatewayError.
    ``read_timeout`` lengthens the wait for an answer (uploads, downloads); ``kwargs`` are requests'."""
    seconds = float(settings.MLFLOW_TIMEOUT_SECONDS)
    try:
        return _session().request(
            method, f"{base_url()}/{path}", timeout=(seconds, read_timeout or seconds), **kwargs
        )
    except requests.RequestException as error:
        raise GatewayError(unreachable(error), retryable=True) from error


def _request_json(method: str, path: str, **kwargs) -> dict:
    return _answer(send(method, path, **kwargs))


def _answer(response: requests.Response) -> dict:
    if response.status_code >= 400:
        code, message = error_of(response)
        message = client_message(code, message)
        status = response.status_code if response.status_code in {400, 404} else 502
        raise GatewayError(message, status=status, retryable=status == 502)
    try:
        return response.json()
    except ValueError as error:
        raise GatewayError(_("MLflow answered with something other than JSON."), retryable=True) from error


def error_of(response: requests.Response) -> tuple[str, str]:
    """(error_code, message) of an MLflow error answer; ('', the text) when it is not MLflow's JSON."""
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:2000]
    if not isinstance(body, dict):
        return "", response.text[:2000]
    return str(body.get("error_code") or ""), str(body.get("message") or body.get("detail") or "")


# Artifacts --------------------------------------------------------------------------------------


def clean_artifact_path(path: str | None) -> str:
    """A relative path inside a run's artifacts; refuses absolute paths and any `..`."""
    path = (path or "").strip()
    if not path:
        return ""
    if path.startswith(("/", "\\")) or "\\" in path or "\x00" in path or ":" in path.split("/")[0]:
        raise GatewayError(_("Artifact paths are relative to the run's artifacts."), status=400)
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise GatewayError(_("Artifact paths may not leave the run's artifacts ('..')."), status=400)
    return "/".join(parts)


def list_artifacts(run_id: str, path: str = "") -> list[dict]:
    """The files and folders directly under ``path`` in a run's artifacts."""
    path = clean_artifact_path(path)
    with _calling():
        files = _client().list_artifacts(run_id, path or None)
    return [
        {"path": f.path, "name": f.path.rsplit("/", 1)[-1], "is_dir": f.is_dir, "size": f.file_size}
        for f in sorted(files, key=lambda f: (not f.is_dir, f.path))
    ]


class Artifact:
    """An open, streamed artifact download: iterate ``chunks()``, then ``close()``."""

    def __init__(self, response: requests.Response, name: str) -> None:
        self._response = response
        self.name = name
        length = response.headers.get("Content-Length")
        self.size = int(length) if length and length.isdigit() else None

    def chunks(self, size: int = 64 * 1024) -> Iterator[bytes]:
        try:
            yield from self._response.iter_content(size)
        finally:
            self._response.close()

    def read(self, limit: int) -> bytes | None:
        """At most ``limit`` bytes, or None if the artifact is larger (then the download is closed)."""
        data = bytearray()
        try:
            for chunk in self._response.iter_content(64 * 1024):
                data.extend(chunk)
                if len(data) > limit:
                    return None
        finally:
            self._response.close()
        return bytes(data)

    def close(self) -> None:
        self._response.close()


def open_artifact(run: dict, path: str) -> Artifact:
    """Stream one artifact file of a run from the tracking server, never through a local copy."""
    path = clean_artifact_path(path)
    if not path:
        raise GatewayError(_("Which artifact? The path is empty."), status=400)
    artifact_uri = run["artifact_uri"]
    if artifact_uri.startswith("mlflow-artifacts:"):
        root = urlparse(artifact_uri).path.strip("/")
        url = f"api/2.0/mlflow-artifacts/artifacts/{quote(root)}/{quote(path)}"
        params = None
    else:
        url = "get-artifact"
        params = {"path": path, "run_uuid": run["run_id"]}
    response = send("GET", url, params=params, stream=True)
    if response.status_code >= 400:
        response.close()
        if response.status_code in {400, 404}:
            raise GatewayError(_("No artifact '%(path)s' in this run.") % {"path": path}, status=404)
        raise GatewayError(
            _("MLflow answered %(status)s for the artifact.") % {"status": response.status_code}, status=502
        )
    return Artifact(response, path.rsplit("/", 1)[-1])


# Registered models -------------------------------------------------------------------------------


# MLflow refuses '/' in registered model names, so models take `<slug>.<name>` (slugs have no dots).
MODEL_SEPARATOR = "."


def model_name(project: str, name: str) -> str:
    return f"{project}{MODEL_SEPARATOR}{name}"


def model_project(name: str) -> str:
    """The project a registered model's name claims (its `<slug>.` prefix)."""
    return name.split(MODEL_SEPARATOR, 1)[0] if MODEL_SEPARATOR in name else ""


def experiment_name_project(name: str) -> str:
    """The project an experiment's name claims (its `<slug>/` prefix)."""
    return name.split("/", 1)[0] if "/" in name else ""


def _version(version) -> dict:
    return {
        "name": version.name,
        "version": str(version.version),
        "aliases": sorted(version.aliases or []),
        "tags": dict(sorted((version.tags or {}).items())),
        "run_id": version.run_id or "",
        "source": version.source,
        "status": version.status,
        "description": version.description or "",
        "creation_timestamp": version.creation_timestamp,
        "last_updated_timestamp": version.last_updated_timestamp,
    }


def _model(model) -> dict:
    aliases = dict(sorted((model.aliases or {}).items()))
    return {
        "name": model.name,
        "short_name": model.name.split(MODEL_SEPARATOR, 1)[-1],
        "description": model.description or "",
        "tags": dict(sorted((model.tags or {}).items())),
        "aliases": {alias: str(version) for alias, version in aliases.items()},
        "latest_versions": [_version(v) for v in model.latest_versions or []],
        "creation_timestamp": model.creation_timestamp,
        "last_updated_timestamp": model.last_updated_timestamp,
    }


def list_models(project: str, *, max_results: int = 50, page_token: str | None = None) -> dict:
    """One page of the project's registered models (tag and name prefix both match)."""
    filter_string = _and(f"name LIKE {filter_literal(model_name(project, '%'))}", project_filter(project))
    with _calling():
        page = _client().search_registered_models(
            filter_string=filter_string,
            max_results=max_results,
            order_by=["name ASC"],
            page_token=page_token or None,
        )
    models = [_model(m) for m in page if m.tags.get(PROJECT_TAG) == project]
    return {"models": models, "next_page_token": page.token or None}


def get_model(project: str, name: str) -> dict:
    """A registered model of the project; 404 for a model of another project."""
    if model_project(name) != project:
        raise GatewayError(_("No registered model '%(name)s' in this project.") % {"name": name}, status=404)
    with _calling():
        model = _client().get_registered_model(name)
    if model.tags.get(PROJECT_TAG) != project:
        raise GatewayError(_("No registered model '%(name)s' in this project.") % {"name": name}, status=404)
    return _model(model)


def list_versions(project: str, name: str, *, max_results: int = 50, page_token: str | None = None) -> dict:
    """One page of a model's versions, newest first, with their aliases, tags and source run."""
    get_model(project, name)
    with _calling():
        page = _client().search_model_versions(
            filter_string=f"name = {filter_literal(name)}",
            max_results=max_results,
            order_by=["version_number DESC"],
            page_token=page_token or None,
        )
    return {"versions": [_version(v) for v in page], "next_page_token": page.token or None}


def get_version(project: str, name: str, version: str) -> dict:
    get_model(project, name)
    with _calling():
        return _version(_client().get_model_version(name, str(version)))


def set_alias(name: str, alias: str, version: str) -> None:
    with _calling():
        _client().set_registered_model_alias(name, alias, str(version))


def delete_alias(name: str, alias: str) -> None:
    with _calling():
        _client().delete_registered_model_alias(name, alias)


def set_version_tag(name: str, version: str, key: str, value: str) -> None:
    with _calling():
        _client().set_model_version_tag(name, str(version), key, value)


def delete_version_tag(name: str, version: str, key: str) -> None:
    with _calling():
        _client().delete_model_version_tag(name, str(version), key)


def set_model_tag(name: str, key: str, value: str) -> None:
    with _calling():
        _client().set_registered_model_tag(name, key, value)


def delete_model_tag(name: str, key: str) -> None:
    with _calling():
        _client().delete_registered_model_tag(name, key)


def logged_model_project(model_id: str) -> str:
    """The project of an MLflow 3 logged model (through its experiment), cached."""
    if not looks_like_id(model_id):
        return ""
    key = _cache_key("lm", model_id)
    experiment_id = cache.get(key)
    if experiment_id is None:
        with _calling():
            experiment_id = _client().get_logged_model(model_id).experiment_id
        cache.set(key, experiment_id, SCOPE_CACHE_SECONDS)
    return experiment_project(experiment_id)
