"""``POST /serve/<project>/<deployment>/invocations``: MLflow's scoring protocol through the
portal. The call is authenticated (a deployment key, or a portal token of someone who may see
the project), its body bounded and, when JSON, checked to be an object, then forwarded to the
replicas serving now and their answer streamed back as it comes. A deployment that switched
servers while the call was on its way is asked again at its new address, once.
"""

import json
import logging
import random
import socket
import threading
import time

import orjson
import urllib3
import urllib3.connection
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from portal.accounts.authentication import key_from_header
from portal.throttling import count_and_get

from . import traffic
from .keys import caller, keyed_call
from .models import KEY_PREFIX, SERVED_FIELDS, CallSample, Deployment, DeploymentStatus

log = logging.getLogger(__name__)

# Headers of the model server's answer that reach the client (hop-by-hop ones never do).
PASSED_HEADERS = ("Content-Type",)


class _QuickAck:
    """Asks for the answer's segments to be acknowledged at once (Linux's TCP_QUICKACK, set as
    the answer is awaited). MLflow's model server sends its answer's headers and body in two
    segments; on a keep-alive connection used again soon after its last answer, Linux delays the
    acknowledgement of the first (up to 40 ms), and the second waits for it. Measured: 45-60 ms a
    call back to back against 6-9 ms with this, for the same model (bench/bench_serving.py)."""

    def getresponse(self, *args, **kwargs):
        if self.sock is not None and hasattr(socket, "TCP_QUICKACK"):
            try:
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            except OSError:
                pass
        return super().getresponse(*args, **kwargs)


class _QuickAckHTTPConnection(_QuickAck, urllib3.connection.HTTPConnection):
    pass


class _QuickAckHTTPSConnection(_QuickAck, urllib3.connection.HTTPSConnection):
    pass


class _QuickAckHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _QuickAckHTTPConnection


class _QuickAckHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _QuickAckHTTPSConnection


QUICK_ACK_POOLS = {"http": _QuickAckHTTPPool, "https": _QuickAckHTTPSPool}

_upstream: list[urllib3.PoolManager] = []
_upstream_lock = threading.Lock()


def _pools() -> urllib3.PoolManager:
    """Keep-alive connections to the model servers, shared by the process's threads (urllib3's
    pools are thread-safe). urllib3 itself rather than requests: a call through a requests
    session cost the portal more CPU than all the rest of the serving path (the environment's
    proxy settings read on every call, the request prepared twice), measured in-process with
    cProfile. No retries: a call is sent once, and a server that moved is asked again below."""
    if not _upstream:
        with _upstream_lock:
            if not _upstream:
                pools = urllib3.PoolManager(num_pools=64, maxsize=8, retries=False)
                pools.pool_classes_by_scheme = QUICK_ACK_POOLS
                _upstream.append(pools)
    return _upstream[0]


def _error(status: int, message: str, code: str = "") -> JsonResponse:
    return JsonResponse({"error_code": code or str(status), "message": message}, status=status)


def _key_rate() -> tuple[int, int]:
    count, _slash, period = settings.TALLER_SERVE_KEY_RATE.partition("/")
    return int(count), {"s": 1, "m": 60, "h": 3600}.get(period[:1] or "m", 60)


def _count_call(who: str, other: str):
    """Count a call of ``who`` in the key rate's window; the count, and the cached ``other``."""
    _limit, seconds = _key_rate()
    return count_and_get(f"serve-rate:{who}:{int(time.time() // seconds)}", seconds, other)


def _json(body: bytes):
    """The body parsed as Python's json module (and so MLflow's server) reads it, which takes
    NaN and encodings other than UTF-8; with orjson first, five times faster, for the rest."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


def _read_body(request: HttpRequest) -> bytes | JsonResponse:
    limit = settings.TALLER_SERVE_MAX_BYTES
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > limit:
        return _error(413, _("The body is larger than %(n)s bytes.") % {"n": limit}, "PAYLOAD_TOO_LARGE")
    body = request.read(limit + 1)
    if len(body) > limit:
        return _error(413, _("The body is larger than %(n)s bytes.") % {"n": limit}, "PAYLOAD_TOO_LARGE")
    if request.content_type == "application/json":
        try:
            parsed = _json(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return _error(400, _("The body is not valid JSON."), "BAD_REQUEST")
        if not isinstance(parsed, dict):
            return _error(
                400, _("The body must be a JSON object (MLflow's scoring protocol)."), "BAD_REQUEST"
            )
    elif request.content_type != "text/csv":
        return _error(415, _("Send application/json or text/csv."), "UNSUPPORTED_MEDIA_TYPE")
    return body


def _post(address: str, body: bytes, content_type: str) -> urllib3.BaseHTTPResponse:
    return _pools().request(
        "POST",
        f"{address}/invocations",
        body=body,
        headers={"Content-Type": content_type},
        timeout=urllib3.Timeout(connect=5, read=settings.TALLER_SERVE_TIMEOUT_SECONDS),
        preload_content=False,
        redirect=False,
    )


# Seconds a caller is asked to wait when no model server takes the call: about what a replica
# takes to start again (``mlflow models serve``, or a pod's restart).
RETRY_AFTER_SECONDS = 5


def _upstream_error(error: urllib3.exceptions.HTTPError) -> JsonResponse:
    """What the caller is told when the call did not get an answer: a server that takes no
    connection (restarting, or gone since the last deploy) is a 503 to try again after a few
    seconds; one that took the call and sent nothing in time a 504; one that dropped it a 502,
    since the model may have run: the caller decides whether to send it again."""
    if isinstance(error, urllib3.exceptions.ConnectTimeoutError):  # NewConnectionError is one too
        response = _error(
            503, _("The model server is not taking calls now; try again shortly."), "TEMPORARILY_UNAVAILABLE"
        )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    if isinstance(error, urllib3.exceptions.ReadTimeoutError):
        seconds = settings.TALLER_SERVE_TIMEOUT_SECONDS
        return _error(
            504,
            _("The model server did not answer within %(n)s seconds.") % {"n": seconds},
            "DEADLINE_EXCEEDED",
        )
    return _error(502, _("The model server dropped the call without an answer."), "TEMPORARILY_UNAVAILABLE")


def _forward(deployment: Deployment, body: bytes, content_type: str) -> urllib3.BaseHTTPResponse:
    try:
        return _post(deployment.address, body, content_type)
    except urllib3.exceptions.ReadTimeoutError:
        raise
    except urllib3.exceptions.HTTPError:  # could not connect, or the connection dropped
        address = Deployment.objects.filter(pk=deployment.pk).values_list("address", flat=True).first()
        if not address or address == deployment.address:
            raise
        return _post(address, body, content_type)


@csrf_exempt
def invocations(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    if request.method != "POST":
        return _error(405, _("Only POST."), "METHOD_NOT_ALLOWED")
    raw = key_from_header(request.META.get("HTTP_AUTHORIZATION", ""))
    if raw is None:
        return _error(
            401,
            _("Send 'Authorization: Token <key>' with a deployment key or your portal token."),
            "UNAUTHENTICATED",
        )
    calls = 0
    if raw.startswith(KEY_PREFIX):
        deployment, who, calls = keyed_call(slug, name, raw, _count_call) or (None, None, 0)
    else:
        deployment = Deployment.objects.filter(project__slug=slug, name=name).only(*SERVED_FIELDS).first()
        who = caller(deployment, raw) if deployment is not None else None
    if who is None:  # a deployment one may not call is not told apart from none at all
        return _error(404, _("No such deployment, or your key does not open it."), "RESOURCE_DOES_NOT_EXIST")
    if calls > _key_rate()[0]:
        return _error(429, _("Too many calls with this key; slow down."), "RATE_LIMITED")
    if deployment.status == DeploymentStatus.STOPPED or not deployment.address:
        return _error(503, _("The deployment is not serving now."), "TEMPORARILY_UNAVAILABLE")
    body = _read_body(request)
    if isinstance(body, HttpResponse):
        return body
    started = time.perf_counter()
    try:
        upstream = _forward(deployment, body, request.content_type)
    except urllib3.exceptions.HTTPError as error:
        traffic.record(deployment.pk, ok=False, seconds=time.perf_counter() - started)
        return _upstream_error(error)
    seconds = time.perf_counter() - started
    traffic.record(deployment.pk, ok=upstream.status < 500, seconds=seconds)

    def chunks():
        read_all = False
        try:
            yield from upstream.stream(64 * 1024)
            read_all = True
        finally:  # a connection goes back to the pool only with nothing of this answer left on it
            upstream.release_conn() if read_all else upstream.close()

    sampled = deployment.sample_fraction > 0 and random.random() < deployment.sample_fraction
    stream = _sampled(chunks(), deployment, request, body, upstream.status, seconds) if sampled else chunks()
    response = StreamingHttpResponse(stream, status=upstream.status)
    for header in PASSED_HEADERS:
        if header in upstream.headers:
            response[header] = upstream.headers[header]
    return response


def _sampled(chunks, deployment: Deployment, request: HttpRequest, body: bytes, status: int, seconds: float):
    """The answer passed on as it comes, its first ``TALLER_SERVE_SAMPLE_MAX_BYTES`` kept; once
    it is all sent, one INSERT keeps the call. A failing insert is logged, never the caller's."""
    limit = settings.TALLER_SERVE_SAMPLE_MAX_BYTES
    kept = bytearray()
    truncated = False
    try:
        for chunk in chunks:
            room = limit - len(kept)
            if room > 0:
                kept += chunk[:room]
            if len(chunk) > room:
                truncated = True
            yield chunk
    finally:
        try:
            CallSample.objects.create(
                deployment_id=deployment.pk,
                status=status,
                latency_ms=round(seconds * 1000),
                content_type=request.content_type[:40],
                request_body=body[:limit],
                request_truncated=len(body) > limit,
                response_body=bytes(kept),
                response_truncated=truncated,
            )
        except Exception:  # noqa: BLE001 - sampling never fails a call
            log.exception("could not keep a sampled call of deployment %s", deployment.pk)
