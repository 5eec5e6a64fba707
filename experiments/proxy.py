"""The authorizing MLflow tracking proxy under /mlflow/: its forwarding views.

A stock ``mlflow`` client with ``MLFLOW_TRACKING_URI=<portal>/mlflow`` and
``MLFLOW_TRACKING_TOKEN=<portal API token>`` talks to the upstream tracking server through
here. Every request is authorized before it is passed on:

- the token (``Authorization: Bearer <key>``) names a user, and optionally one project
  (the job-scoped tokens); no token or a bad one is a 401;
- the request is read once, as MLflow's server will read it (``proxy_parse``: every spelling
  of every field from MLflow's own protobuf descriptors, types checked, two spellings of one
  field refused), and what is passed on is the message rebuilt from what was checked;
- ``proxy_policy`` decides, route by route and object by object, what the token may do, and
  ``proxy_scope`` what the token reaches (through ``portal/projects/access.py``).

MLflow's error answers are passed on with their code, but their text only where it is
MLflow's own validation message (``gateway.client_message``): database errors are logged.
Artifact uploads and downloads are streamed; every call to MLflow goes through ``gateway.send``.
"""

import logging
from collections.abc import Iterator
from urllib.parse import quote

import orjson
import requests
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from portal.accounts.actions import authenticate_token
from portal.accounts.authentication import key_from_header

from . import gateway, proxy_audit, proxy_parse
from .proxy_policy import REFERENCES, ROUTES, authorize, match_route, refuse_reserved_tags
from .proxy_scope import Call, Need, Refused, Scope, artifact_experiment, bad, project_of

logger = logging.getLogger(__name__)


# Query parameters a route's MLflow handler reads beside its message (they name no object).
EXTRA_QUERY = {("GET", "logged-models/{model_id}"): {"allow_deleted"}}


def _read(
    request: HttpRequest, key: tuple[str, str], path: dict[str, str]
) -> tuple[dict, list[tuple[str, str]]]:
    """The request's message, read once (see proxy_parse), with the route's path parameters; and
    the objects it names (``proxy_policy.REFERENCES``), noted on the way."""
    descriptor = gateway.request_messages()[key]
    found = proxy_parse.Found(REFERENCES)
    try:
        if request.method == "GET":
            pairs = [(k, v) for k, values in request.GET.lists() for v in values]
            params = proxy_parse.from_query(pairs, descriptor, found)
            for name in EXTRA_QUERY.get(key, ()):
                if name in request.GET:
                    params[name] = request.GET[name]
        else:
            params = proxy_parse.from_json(proxy_parse.parse_json(request.body), descriptor, found)
    except proxy_parse.Malformed as malformed:
        raise bad(malformed.message) from None
    except RequestDataTooBig:
        raise Refused(
            413,
            "INVALID_PARAMETER_VALUE",
            _("The request body is larger than %(limit)s bytes.")
            % {"limit": settings.DATA_UPLOAD_MAX_MEMORY_SIZE},
        ) from None
    for name, value in path.items():
        if value in ("", ".", "..") or "\\" in value:
            raise bad(_("'%(field)s' is not a valid value in a path.") % {"field": name})
        if params.get(name, value) != value:
            raise bad(_("'%(field)s' differs between the path and the body.") % {"field": name})
        params[name] = value
        found.note(name, value)
    # MLflow acts on `run_id or run_uuid`: one id, under one name, or a 400.
    if "run_uuid" in params:
        run_uuid = params.pop("run_uuid")
        if params.get("run_id", run_uuid) != run_uuid:
            raise bad(_("'run_id' and 'run_uuid' name different runs."))
        params["run_id"] = run_uuid
    refuse_reserved_tags(params, descriptor, found.tag_keys)
    return params, found.references


def _forward_route(key: tuple[str, str], path: dict[str, str]) -> str:
    return key[1].format(**{name: quote(value, safe="") for name, value in path.items()})


# Forwarding ----------------------------------------------------------------------------------


def _error(status: int, code: str, message: str) -> JsonResponse:
    response = JsonResponse({"error_code": code, "message": message}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="taller"'
    return response


def _refused(refused: Refused) -> JsonResponse:
    return _error(refused.status, refused.code, refused.message)


def _unreachable(error: gateway.GatewayError) -> JsonResponse:
    return _error(502, "TEMPORARILY_UNAVAILABLE", str(error))


def _authenticate(request: HttpRequest) -> Scope:
    key = key_from_header(request.META.get("HTTP_AUTHORIZATION", ""))
    token = authenticate_token(key) if key else None
    if token is None:
        raise Refused(
            401,
            "UNAUTHENTICATED",
            _("A portal API token is required: set MLFLOW_TRACKING_TOKEN (sent as 'Bearer <token>')."),
        )
    return Scope(user=token.user, project_id=token.project_id)


def _relay(upstream: requests.Response) -> HttpResponse:
    """MLflow's answer as it is, except an error's text: its code is kept, its details logged.
    MLflow's own failures (5xx) are a 502: the portal did not fail, its upstream did."""
    if upstream.status_code >= 400:
        code, message = gateway.error_of(upstream)
        status = 502 if upstream.status_code >= 500 else upstream.status_code
        code = code or {404: "RESOURCE_DOES_NOT_EXIST", 502: "INTERNAL_ERROR"}.get(status, "BAD_REQUEST")
        return _error(status, code, gateway.client_message(code, message))
    return HttpResponse(
        upstream.content,
        status=upstream.status_code,
        content_type=upstream.headers.get("Content-Type", "application/json"),
    )


@csrf_exempt
def tracking(request: HttpRequest, api: str, route: str) -> HttpResponse:
    """The MLflow REST API (``api`` is 'api' or 'ajax-api'), authorized route by route."""
    try:
        scope = _authenticate(request)
        matched = match_route(request.method, route)
        if matched is None:
            raise Refused(404, "ENDPOINT_NOT_FOUND", _("This MLflow route is not available through Taller."))
        key, path = matched
        params, references = _read(request, key, path)
        call = Call(
            request=request, scope=scope, route=ROUTES[key], params=params, path=path, references=references
        )
        authorize(call)
    except Refused as refused:
        return _refused(refused)

    forward = f"{api}/2.0/mlflow/{_forward_route(key, path)}"
    try:
        if request.method == "GET":
            query = {name: value for name, value in call.params.items() if name not in path}
            upstream = gateway.send("GET", forward, params=proxy_parse.to_query(query))
        else:
            # The rebuilt message holds only JSON's types (see proxy_parse): orjson writes a
            # batch of a thousand metrics ten times faster than json.
            upstream = gateway.send(
                request.method,
                forward,
                data=orjson.dumps(call.params),
                headers={"Content-Type": "application/json"},
            )
    except gateway.GatewayError as error:
        return _unreachable(error)
    if call.check_response is not None and upstream.status_code == 200:
        try:
            answer = call.check_response(upstream.json())
        except Refused as refused:
            return _refused(refused)
        except ValueError:
            return _error(
                502, "TEMPORARILY_UNAVAILABLE", _("MLflow answered with something other than JSON.")
            )
        return JsonResponse(answer)
    if key in proxy_audit.AUDITED:
        proxy_audit.record_change(call, key, upstream)
    return _relay(upstream)


class _Upload:
    """The request body as a file of known length, read in chunks: uploads are never held whole."""

    def __init__(self, request: HttpRequest, length: int) -> None:
        self._request = request
        self._length = length

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        return self._request.read(size if size and size > 0 else 64 * 1024)

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(64 * 1024):
            yield chunk


@csrf_exempt
def artifacts(request: HttpRequest, path: str = "") -> HttpResponse:
    """MLflow's artifact service (``mlflow-artifacts``): list, download, upload, delete, streamed."""
    need = {"GET": Need.VIEW, "PUT": Need.CHANGE, "DELETE": Need.CHANGE}.get(request.method)
    try:
        scope = _authenticate(request)
        if need is None:
            raise Refused(405, "ENDPOINT_NOT_FOUND", _("Method not allowed."))
        listing = not path
        target = request.GET.get("path", "") if listing else path
        if listing and request.method != "GET":
            raise Refused(405, "ENDPOINT_NOT_FOUND", _("Method not allowed."))
        scope.require(project_of("experiment", artifact_experiment(target)), need)
    except Refused as refused:
        return _refused(refused)

    base = "api/2.0/mlflow-artifacts/artifacts"
    forward = base if listing else f"{base}/{quote(path)}"
    try:
        if request.method == "PUT":
            length = int(request.META.get("CONTENT_LENGTH") or 0)
            upstream = gateway.send(
                "PUT",
                forward,
                data=_Upload(request, length) if length else b"",
                headers={"Content-Type": request.content_type or "application/octet-stream"},
                read_timeout=300,
            )
            return _relay(upstream)
        if request.method == "DELETE":
            return _relay(gateway.send("DELETE", forward))
        if listing:
            return _relay(gateway.send("GET", forward, params={"path": target}))
        upstream = gateway.send("GET", forward, stream=True, read_timeout=300)
    except gateway.GatewayError as error:
        return _unreachable(error)
    if upstream.status_code != 200:
        upstream.content  # noqa: B018 - read the small error body before closing
        return _relay(upstream)

    def chunks() -> Iterator[bytes]:
        try:
            yield from upstream.iter_content(64 * 1024)
        finally:
            upstream.close()

    response = StreamingHttpResponse(
        chunks(), content_type=upstream.headers.get("Content-Type", "application/octet-stream")
    )
    for header in ("Content-Length", "Content-Disposition"):
        if header in upstream.headers:
            response[header] = upstream.headers[header]
    return response


@csrf_exempt
def server_info(request: HttpRequest) -> HttpResponse:
    """What the client asks before large uploads: passed through for any valid token."""
    try:
        _authenticate(request)
    except Refused as refused:
        return _refused(refused)
    if request.method != "GET":
        return _error(405, "ENDPOINT_NOT_FOUND", _("Method not allowed."))
    try:
        return _relay(gateway.send("GET", "api/3.0/mlflow/server-info"))
    except gateway.GatewayError as error:
        return _unreachable(error)


@csrf_exempt
def unknown(request: HttpRequest, rest: str = "") -> HttpResponse:
    return _error(404, "ENDPOINT_NOT_FOUND", _("This MLflow route is not available through Taller."))
