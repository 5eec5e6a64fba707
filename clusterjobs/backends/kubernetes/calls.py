"""How the backend calls the cluster: the options every request carries, reading its answer, and
the one translation of the client's errors into BackendError, with ``permanent`` saying whether
a retry can help.

Every request is bounded by TALLER_K8S_TIMEOUT_SECONDS (at most 5 s of it to connect) and is sent
with ``_preload_content=False``: the client builds none of its model objects, and the body is read
as JSON with orjson (a reconcile reads every Job and Pod of the portal, and parsing them is most of
its work).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import orjson
import urllib3
from django.conf import settings
from django.utils.translation import gettext_noop
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from ..base import BackendError

# The cluster did not answer: no connection, a timeout, an unreadable kubeconfig.
TRANSPORT_ERRORS = (urllib3.exceptions.HTTPError, OSError, ConfigException)


def timeout() -> tuple[float, float]:
    """(connect, read) seconds for one request; read when needed, so settings overrides apply."""
    seconds = float(settings.TALLER_K8S_TIMEOUT_SECONDS)
    return (min(seconds, 5.0), seconds)


def options() -> dict:
    """The keyword arguments every request of the client takes from the portal."""
    return {"_request_timeout": timeout(), "_preload_content": False}


def read(response) -> dict:
    """The JSON body of a raw (not preloaded) response; the connection goes back to the pool."""
    try:
        return orjson.loads(response.data or b"{}")
    finally:
        response.release_conn()


def fetch(method: Callable, *args, **kwargs) -> dict:
    """Call ``method`` of the client with the request options; its answer as JSON."""
    return read(method(*args, **kwargs, **options()))


def send(method: Callable, *args, **kwargs) -> None:
    """Call ``method`` of the client with the request options, for its effect. The answer is read
    all the same, so the kept-alive connection is clean for the next call."""
    response = method(*args, **kwargs, **options())
    response.data  # noqa: B018 - read the body
    response.release_conn()


def lines(method: Callable, *args, **kwargs) -> list[str]:
    """Call ``method`` of the client with the request options; its answer as lines of text."""
    response = method(*args, **kwargs, **options())
    try:
        return response.data.decode("utf-8", errors="replace").splitlines()
    finally:
        response.release_conn()


def answer(exc: ApiException) -> dict:
    """The Status object the cluster sent with an error ({} when it sent none)."""
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def error(exc: Exception, doing: str) -> BackendError:
    """Our error for a failed call; ``permanent`` when repeating the same call cannot succeed."""
    if isinstance(exc, ApiException):
        message = answer(exc).get("message") or f"{exc.status} {exc.reason}"
        text = gettext_noop("%(doing)s: the cluster answered %(status)s: %(message)s") % {
            "doing": doing,
            "status": exc.status,
            "message": message,
        }
        if exc.status in (400, 404, 405, 409, 422) or (exc.status == 403 and "exceeded quota" not in message):
            return BackendError(text, permanent=True)
        return BackendError(text)  # 401, 403 quota, 429, 5xx
    if isinstance(exc, ValueError):  # the client refused the manifest before sending it
        return BackendError(f"{doing}: {exc}", permanent=True)
    return BackendError(
        gettext_noop("%(doing)s: the cluster did not answer: %(error)s") % {"doing": doing, "error": exc}
    )


@contextmanager
def translated(doing: str, *, sends_body: bool = False) -> Iterator[None]:
    """Raise what the client raises in the block as a BackendError that says what the portal was
    ``doing``; a BackendError raised in it passes unchanged. With ``sends_body`` (the block sends
    manifests), a ValueError is the client refusing one before sending it, which no retry mends."""
    caught = (ApiException, *TRANSPORT_ERRORS, *((ValueError,) if sends_body else ()))
    try:
        yield
    except BackendError:
        raise
    except caught as exc:
        raise error(exc, doing) from exc
