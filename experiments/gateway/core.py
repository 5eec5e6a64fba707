"""The gateway's core: its errors, MLflow's client bounded once, and MLflow's REST API over one
session. Everything of the gateway that talks to the tracking server goes through here."""

import functools
import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

import requests
from django.conf import settings
from django.utils.translation import gettext as _
from mlflow.environment_variables import MLFLOW_HTTP_REQUEST_MAX_RETRIES, MLFLOW_HTTP_REQUEST_TIMEOUT
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from portal import observe

PROJECT_TAG = "taller.project"
JOB_TAG = "taller.job_id"
# On the run of a job that held GPUs it used little (clusterjobs.resource_use sets it when the job ends).
GPU_UNDERUSED_TAG = "taller.gpu_underused"
GPU_USE_TAG = "taller.gpu_use_percent"

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


def mlflow_client() -> MlflowClient:
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
def calling() -> Iterator[None]:
    """Turn MLflow's and the network's errors into GatewayErrors."""
    started, failure = time.perf_counter(), ""
    try:
        yield
    except MlflowException as error:
        converted = _error(error)
        failure = "server" if converted.status == 502 else ""
        raise converted from error
    except OSError as error:
        failure = "unreachable"
        raise GatewayError(unreachable(error), retryable=True) from error
    finally:
        observe.call_done("client", time.perf_counter() - started, failure)


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


SCOPE_CACHE_SECONDS = 3600


def cache_key(kind: str, object_id: str) -> str:
    """Scope cache keys by tracking server: ids are only unique within one."""
    server = hashlib.sha1(settings.MLFLOW_TRACKING_URI.encode()).hexdigest()[:10]
    return f"mlflow:{server}:{kind}:{object_id}"


def filter_literal(value: str) -> str:
    """A string literal for MLflow's filter syntax."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def project_filter(project: str) -> str:
    return f"tags.`{PROJECT_TAG}` = {filter_literal(project)}"


def all_of(*clauses: str | None) -> str:
    return " and ".join(f"{clause}" for clause in clauses if clause and clause.strip())


def looks_like_id(value: str) -> bool:
    return bool(value) and len(value) <= 64 and all(c.isalnum() or c in "-_" for c in value)


# MLflow's REST API, for what MlflowClient does not do (JSON pages, bulk histories, artifact
# streams) and for the tracking proxy, which forwards what it has checked: keep-alive sessions
# shared by the process's threads, one thread at a time each, every call bounded by
# MLFLOW_TIMEOUT_SECONDS. A server that starts a thread per request (runserver, the tests' live
# server) reuses connections too, instead of opening one (and a session) per request.

_IDLE_SESSIONS = 8  # kept between requests; more threads at once make more, then drop them
_idle: list[requests.Session] = []
_idle_lock = threading.Lock()


def base_url() -> str:
    """The tracking server's address, without a trailing slash."""
    return settings.MLFLOW_TRACKING_URI.rstrip("/")


@contextmanager
def _session() -> Iterator[requests.Session]:
    with _idle_lock:
        session = _idle.pop() if _idle else None
    if session is None:
        session = requests.Session()
    try:
        yield session
    finally:
        with _idle_lock:
            if len(_idle) < _IDLE_SESSIONS:
                _idle.append(session)
                session = None
        if session is not None:
            session.close()


def send(method: str, path: str, *, read_timeout: float | None = None, **kwargs) -> requests.Response:
    """One request to the tracking server (``path`` under its address, e.g. ``api/2.0/mlflow/...``),
    answered as it came, errors included. A server that cannot be reached is a GatewayError.
    ``read_timeout`` lengthens the wait for an answer (uploads, downloads); ``kwargs`` are requests'."""
    seconds = float(settings.MLFLOW_TIMEOUT_SECONDS)
    started = time.perf_counter()
    try:
        with _session() as session:
            response = session.request(
                method, f"{base_url()}/{path}", timeout=(seconds, read_timeout or seconds), **kwargs
            )
    except requests.RequestException as error:
        observe.call_done("rest", time.perf_counter() - started, "unreachable")
        raise GatewayError(unreachable(error), retryable=True) from error
    observe.call_done("rest", time.perf_counter() - started, "server" if response.status_code >= 500 else "")
    return response


def request_json(method: str, path: str, **kwargs) -> dict:
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
