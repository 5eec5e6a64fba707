"""The authorizing MLflow tracking proxy under /mlflow/.

A stock ``mlflow`` client with ``MLFLOW_TRACKING_URI=<portal>/mlflow`` and
``MLFLOW_TRACKING_TOKEN=<portal API token>`` talks to the upstream tracking server through
here. Every request is authorized before it is passed on:

- the token (``Authorization: Bearer <key>``) names a user, and optionally one project
  (the job-scoped tokens); no token or a bad one is a 401;
- each route names the object it touches (an experiment id, a run id, a registered model
  name, a logged model id or an artifact path whose first part is the experiment id); the
  object's project comes from its experiment's ``taller.project`` tag (cached) or from the
  model name's ``<slug>/`` prefix;
- reading needs the viewer role, writing the member role; a project the token may not see
  is a 404, one it sees but may not write a 403;
- searches are narrowed to what the token may see, and routes not listed here are a 404:
  nothing reaches MLflow unchecked.

Bodies are passed on as they are, except where the proxy adds its scope (experiment and
model creation get the project tag). Artifact uploads and downloads are streamed.
"""

import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import unquote

import requests
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from portal.accounts.actions import authenticate_token
from portal.accounts.authentication import key_from_header
from portal.projects.access import Need, level_of
from portal.projects.models import Membership, Project

from . import gateway

logger = logging.getLogger(__name__)

RESERVED_TAG_PREFIX = "taller."
_local = threading.local()


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _not_found(message: str | None = None) -> Refused:
    return Refused(404, "RESOURCE_DOES_NOT_EXIST", message or _("Not found, or not yours to see."))


def _bad(message: str) -> Refused:
    return Refused(400, "INVALID_PARAMETER_VALUE", message)


@dataclass
class Scope:
    """What one token may reach: its user's projects (or the token's one project), with levels."""

    user: object
    project_id: int | None
    _levels: dict[str, int] = field(default_factory=dict)

    def level(self, slug: str) -> int:
        if not slug:
            return 0
        if slug not in self._levels:
            project = Project.objects.filter(slug=slug).first()
            if project is None or (self.project_id is not None and project.pk != self.project_id):
                self._levels[slug] = 0
            else:
                self._levels[slug] = level_of(self.user, project)
        return self._levels[slug]

    def require(self, slug: str, need: Need) -> None:
        level = self.level(slug)
        if level < Need.VIEW:
            raise _not_found()
        if level < need:
            raise Refused(403, "PERMISSION_DENIED", _("Your role in this project does not allow this."))

    def visible(self) -> set[str]:
        """Slugs of every project this token may read."""
        if self.project_id is not None:
            slug = Project.objects.filter(pk=self.project_id).values_list("slug", flat=True).first()
            return {slug} if slug and self.level(slug) >= Need.VIEW else set()
        if self.user.is_site_admin:
            return set(Project.objects.values_list("slug", flat=True))
        return set(Membership.objects.filter(user=self.user).values_list("project__slug", flat=True))


@dataclass
class Call:
    request: HttpRequest
    scope: Scope
    route: str
    params: dict  # the JSON body of a POST/PATCH/DELETE, or the query of a GET
    changed: bool = False  # the proxy narrowed or tagged the parameters: send them, not the original
    check_response: Callable[[dict], dict | None] | None = None  # narrows or checks the answer


# Authorizers: each finds the project an API call touches and requires a role in it ----------


def _param(call: Call, *names: str) -> str:
    for name in names:
        value = call.params.get(name)
        if isinstance(value, list):
            value = value[0] if value else ""
        if value not in (None, ""):
            return str(value)
    raise _bad(_("Missing parameter: %(name)s.") % {"name": names[0]})


def _gateway(function, *args):
    try:
        return function(*args)
    except gateway.GatewayError as error:
        if error.status == 404:
            raise _not_found() from error
        if error.status == 400:
            raise _bad(str(error)) from error
        raise Refused(502, "TEMPORARILY_UNAVAILABLE", str(error)) from error


def _experiment(need: Need, name: str = "experiment_id"):
    def authorize(call: Call) -> None:
        call.scope.require(_gateway(gateway.experiment_project, _param(call, name)), need)

    return authorize


def _run(need: Need):
    def authorize(call: Call) -> None:
        run_id = _param(call, "run_id", "run_uuid")
        if not gateway._looks_like_id(run_id):
            raise _not_found()
        call.scope.require(_gateway(gateway.run_project, run_id)[0], need)
        _refuse_reserved_tags(call)

    return authorize


def _runs(name: str, need: Need):
    """Several runs (metrics/get-history-bulk-interval): each must be readable."""

    def authorize(call: Call) -> None:
        run_ids = call.params.get(name) or []
        if isinstance(run_ids, str):
            run_ids = [run_ids]
        if not run_ids:
            raise _bad(_("Missing parameter: %(name)s.") % {"name": name})
        for run_id in run_ids:
            if not gateway._looks_like_id(run_id):
                raise _not_found()
            call.scope.require(_gateway(gateway.run_project, run_id)[0], need)

    return authorize


def _experiments(name: str, need: Need):
    """Searches over a list of experiment ids (runs/search, logged-models/search): each readable."""

    def authorize(call: Call) -> None:
        ids = call.params.get(name) or []
        if isinstance(ids, str):
            ids = [ids]
        if not ids:
            raise _bad(_("Name the experiments to search (%(name)s).") % {"name": name})
        for experiment_id in ids:
            call.scope.require(_gateway(gateway.experiment_project, str(experiment_id)), need)

    return authorize


def _model(need: Need, name: str = "name"):
    def authorize(call: Call) -> None:
        call.scope.require(gateway.model_project(_param(call, name)), need)
        _refuse_reserved_tags(call)

    return authorize


def _logged_model(need: Need):
    def authorize(call: Call) -> None:
        model_id = call.route.split("/")[1]
        call.scope.require(_gateway(gateway.logged_model_project, model_id), need)
        _refuse_reserved_tags(call)

    return authorize


def _refuse_reserved_tags(call: Call) -> None:
    """The taller.* tags tie objects to projects and jobs: only the portal itself sets them."""
    keys = [call.params.get("key")] if isinstance(call.params.get("key"), str) else []
    for tag in call.params.get("tags") or []:
        if isinstance(tag, dict):
            keys.append(tag.get("key"))
    if any(isinstance(key, str) and key.startswith(RESERVED_TAG_PREFIX) for key in keys):
        raise Refused(403, "PERMISSION_DENIED", _("Tags starting with 'taller.' are set by the portal."))


def _slug_of_name(name: str, what: str, separator: str) -> str:
    slug = name.split(separator, 1)[0] if separator in name else ""
    if not slug or not name.split(separator, 1)[1]:
        raise _bad(
            _("The %(what)s name must start with the project: '<project>%(sep)s%(name)s'.")
            % {"what": what, "name": name, "sep": separator}
        )
    return slug


def _with_project_tag(call: Call, slug: str) -> None:
    tags = [t for t in call.params.get("tags") or [] if isinstance(t, dict)]
    tags = [t for t in tags if not str(t.get("key", "")).startswith(RESERVED_TAG_PREFIX)]
    tags.append({"key": gateway.PROJECT_TAG, "value": slug})
    call.params["tags"] = tags
    call.changed = True


def _create_experiment(call: Call) -> None:
    slug = _slug_of_name(_param(call, "name"), _("experiment"), "/")
    call.scope.require(slug, Need.CHANGE)
    _with_project_tag(call, slug)


def _update_experiment(call: Call) -> None:
    experiment_id = _param(call, "experiment_id")
    slug = _gateway(gateway.experiment_project, experiment_id)
    call.scope.require(slug, Need.CHANGE)
    new_name = call.params.get("new_name")
    if new_name and gateway.experiment_name_project(new_name) != slug:
        raise Refused(403, "PERMISSION_DENIED", _("An experiment keeps its project prefix."))


def _experiment_tag(call: Call) -> None:
    _experiment(Need.CHANGE)(call)
    _refuse_reserved_tags(call)


def _experiment_by_name(call: Call) -> None:
    name = _param(call, "experiment_name")
    slug = gateway.experiment_name_project(name)
    call.scope.require(slug, Need.VIEW)

    def check(answer: dict) -> dict:
        experiment = answer.get("experiment") or {}
        tags = {t.get("key"): t.get("value") for t in experiment.get("tags") or []}
        if tags.get(gateway.PROJECT_TAG) != slug:
            raise _not_found()
        return answer

    call.check_response = check


def _search_experiments(call: Call) -> None:
    slugs = call.scope.visible()

    def narrow(answer: dict) -> dict:
        answer["experiments"] = [
            e
            for e in answer.get("experiments") or []
            if _experiment_slug(e) in slugs and call.scope.level(_experiment_slug(e)) >= Need.VIEW
        ]
        return answer

    if len(slugs) == 1:
        # One project (a job token): let MLflow filter, so pages stay full. Narrowed again below.
        (slug,) = slugs
        ours = f"tags.`{gateway.PROJECT_TAG}` = {gateway._quote(slug)}"
    else:
        ours = f"tags.`{gateway.PROJECT_TAG}` IS NOT NULL"
    theirs = call.params.get("filter") or ""
    if isinstance(theirs, list):
        theirs = theirs[0] if theirs else ""
    call.params["filter"] = f"{theirs} and {ours}" if theirs.strip() else ours
    call.changed = True
    call.check_response = narrow


def _experiment_slug(experiment: dict) -> str:
    tags = {t.get("key"): t.get("value") for t in experiment.get("tags") or []}
    return gateway._owner_of(experiment.get("name", ""), tags.get(gateway.PROJECT_TAG, ""))


def _narrow_models(key: str):
    def authorize(call: Call) -> None:
        slugs = call.scope.visible()

        def narrow(answer: dict) -> dict:
            answer[key] = [
                m
                for m in answer.get(key) or []
                if gateway.model_project(m.get("name", "")) in slugs
                and call.scope.level(gateway.model_project(m.get("name", ""))) >= Need.VIEW
            ]
            return answer

        call.check_response = narrow

    return authorize


def _create_model(call: Call) -> None:
    slug = _slug_of_name(_param(call, "name"), _("model"), gateway.MODEL_SEPARATOR)
    call.scope.require(slug, Need.CHANGE)
    _with_project_tag(call, slug)


def _rename_model(call: Call) -> None:
    slug = gateway.model_project(_param(call, "name"))
    call.scope.require(slug, Need.CHANGE)
    if gateway.model_project(_param(call, "new_name")) != slug:
        raise Refused(403, "PERMISSION_DENIED", _("A model keeps its project prefix."))


def _create_version(call: Call) -> None:
    """A version's source and run must be the model's project's own artifacts."""
    slug = gateway.model_project(_param(call, "name"))
    call.scope.require(slug, Need.CHANGE)
    _refuse_reserved_tags(call)
    run_id = call.params.get("run_id")
    if run_id and _gateway(gateway.run_project, str(run_id))[0] != slug:
        raise _not_found(_("The source run is not in this model's project."))
    model_id = call.params.get("model_id")
    if model_id and _gateway(gateway.logged_model_project, str(model_id)) != slug:
        raise _not_found(_("The source model is not in this model's project."))
    if _source_project(_param(call, "source")) != slug:
        raise Refused(403, "PERMISSION_DENIED", _("The source must be an artifact of this project."))


def _source_project(source: str) -> str:
    if ".." in source.split("/"):
        return ""
    if source.startswith("runs:/"):
        run_id = source.removeprefix("runs:/").split("/", 1)[0]
        return _gateway(gateway.run_project, run_id)[0] if gateway._looks_like_id(run_id) else ""
    if source.startswith("models:/"):
        model_id = source.removeprefix("models:/").split("/", 1)[0]
        return _gateway(gateway.logged_model_project, model_id)
    if source.startswith("mlflow-artifacts:/"):
        experiment_id = source.removeprefix("mlflow-artifacts:").lstrip("/").split("/", 1)[0]
        return _gateway(gateway.experiment_project, experiment_id) if experiment_id.isdigit() else ""
    return ""


def _create_in_experiment(call: Call) -> None:
    """runs/create and logged-models: write access to the experiment they are created in."""
    _experiment(Need.CHANGE)(call)
    _refuse_reserved_tags(call)


READ, WRITE = Need.VIEW, Need.CHANGE

# (method, route under 2.0/mlflow/) -> authorizer. Logged-model routes carry an id in the path.
ROUTES: dict[tuple[str, str], Callable[[Call], None]] = {
    ("POST", "experiments/create"): _create_experiment,
    ("GET", "experiments/get"): _experiment(READ),
    ("GET", "experiments/get-by-name"): _experiment_by_name,
    ("GET", "experiments/search"): _search_experiments,
    ("POST", "experiments/search"): _search_experiments,
    ("POST", "experiments/delete"): _experiment(WRITE),
    ("POST", "experiments/restore"): _experiment(WRITE),
    ("POST", "experiments/update"): _update_experiment,
    ("POST", "experiments/set-experiment-tag"): _experiment_tag,
    ("POST", "experiments/delete-experiment-tag"): _experiment_tag,
    ("POST", "runs/create"): _create_in_experiment,
    ("GET", "runs/get"): _run(READ),
    ("POST", "runs/search"): _experiments("experiment_ids", READ),
    ("POST", "runs/update"): _run(WRITE),
    ("POST", "runs/delete"): _run(WRITE),
    ("POST", "runs/restore"): _run(WRITE),
    ("POST", "runs/log-metric"): _run(WRITE),
    ("POST", "runs/log-parameter"): _run(WRITE),
    ("POST", "runs/set-tag"): _run(WRITE),
    ("POST", "runs/delete-tag"): _run(WRITE),
    ("POST", "runs/log-batch"): _run(WRITE),
    ("POST", "runs/log-model"): _run(WRITE),
    ("POST", "runs/log-inputs"): _run(WRITE),
    ("POST", "runs/outputs"): _run(WRITE),
    ("GET", "metrics/get-history"): _run(READ),
    ("GET", "metrics/get-history-bulk-interval"): _runs("run_ids", READ),
    ("GET", "artifacts/list"): _run(READ),
    ("POST", "registered-models/create"): _create_model,
    ("GET", "registered-models/get"): _model(READ),
    ("GET", "registered-models/search"): _narrow_models("registered_models"),
    ("POST", "registered-models/rename"): _rename_model,
    ("PATCH", "registered-models/update"): _model(WRITE),
    ("DELETE", "registered-models/delete"): _model(WRITE),
    ("GET", "registered-models/get-latest-versions"): _model(READ),
    ("POST", "registered-models/get-latest-versions"): _model(READ),
    ("POST", "registered-models/set-tag"): _model(WRITE),
    ("DELETE", "registered-models/delete-tag"): _model(WRITE),
    ("POST", "registered-models/alias"): _model(WRITE),
    ("DELETE", "registered-models/alias"): _model(WRITE),
    ("GET", "registered-models/alias"): _model(READ),
    ("POST", "model-versions/create"): _create_version,
    ("GET", "model-versions/get"): _model(READ),
    ("GET", "model-versions/get-download-uri"): _model(READ),
    ("GET", "model-versions/search"): _narrow_models("model_versions"),
    ("PATCH", "model-versions/update"): _model(WRITE),
    ("DELETE", "model-versions/delete"): _model(WRITE),
    ("POST", "model-versions/set-tag"): _model(WRITE),
    ("DELETE", "model-versions/delete-tag"): _model(WRITE),
    ("POST", "model-versions/transition-stage"): _model(WRITE),
    ("POST", "logged-models"): _create_in_experiment,
    ("POST", "logged-models/search"): _experiments("experiment_ids", READ),
    ("GET", "logged-models/*"): _logged_model(READ),
    ("PATCH", "logged-models/*"): _logged_model(WRITE),
    ("DELETE", "logged-models/*"): _logged_model(WRITE),
    ("POST", "logged-models/*/params"): _logged_model(WRITE),
    ("PATCH", "logged-models/*/tags"): _logged_model(WRITE),
    ("DELETE", "logged-models/*/tags/*"): _logged_model(WRITE),
    ("GET", "logged-models/*/artifacts/directories"): _logged_model(READ),
}


def _route_key(method: str, route: str) -> tuple[str, str]:
    parts = route.strip("/").split("/")
    if parts[0] == "logged-models" and len(parts) > 1 and parts[1] != "search":
        parts[1] = "*"
        if len(parts) == 4 and parts[2] == "tags":
            parts[3] = "*"
    return method, "/".join(parts)


# Transport -----------------------------------------------------------------------------------


def _session() -> requests.Session:
    if not hasattr(_local, "session"):
        _local.session = requests.Session()
    return _local.session


def _error(status: int, code: str, message: str) -> JsonResponse:
    response = JsonResponse({"error_code": code, "message": message}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="taller"'
    return response


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


def _timeout(read: float | None = None) -> tuple[float, float]:
    seconds = float(settings.MLFLOW_TIMEOUT_SECONDS)
    return seconds, read or seconds


def _upstream_error(error: requests.RequestException) -> JsonResponse:
    logger.warning("MLflow upstream failed: %s", error)
    return _error(502, "TEMPORARILY_UNAVAILABLE", _("MLflow is unreachable: %(error)s") % {"error": error})


def _relay(upstream: requests.Response) -> HttpResponse:
    response = HttpResponse(
        upstream.content,
        status=upstream.status_code,
        content_type=upstream.headers.get("Content-Type", "application/json"),
    )
    return response


@csrf_exempt
def tracking(request: HttpRequest, api: str, route: str) -> HttpResponse:
    """The MLflow REST API (``api`` is 'api' or 'ajax-api'), authorized route by route."""
    try:
        scope = _authenticate(request)
        authorize = ROUTES.get(_route_key(request.method, route))
        if authorize is None:
            raise Refused(404, "ENDPOINT_NOT_FOUND", _("This MLflow route is not available through Taller."))
        if request.method == "GET":
            params = {key: values if len(values) > 1 else values[0] for key, values in request.GET.lists()}
            if route in {"metrics/get-history-bulk-interval"}:
                params["run_ids"] = request.GET.getlist("run_ids")
        else:
            try:
                params = json.loads(request.body or b"{}")
            except ValueError:
                raise _bad(_("The request body is not JSON.")) from None
            if not isinstance(params, dict):
                raise _bad(_("The request body must be a JSON object."))
        call = Call(request=request, scope=scope, route=route, params=params)
        authorize(call)
    except Refused as refused:
        return _error(refused.status, refused.code, refused.message)

    url = f"{gateway._base_url()}/{api}/2.0/mlflow/{route}"
    headers = {"Content-Type": request.content_type or "application/json"}
    try:
        if request.method == "GET":
            query = call.params if call.changed else request.GET
            upstream = _session().get(url, params=_query(query), timeout=_timeout())
        else:
            body = json.dumps(call.params).encode() if call.changed else request.body
            upstream = _session().request(request.method, url, data=body, headers=headers, timeout=_timeout())
    except requests.RequestException as error:
        return _upstream_error(error)
    if call.check_response is not None and upstream.status_code == 200:
        try:
            answer = call.check_response(upstream.json())
        except Refused as refused:
            return _error(refused.status, refused.code, refused.message)
        except ValueError:
            return _error(
                502, "TEMPORARILY_UNAVAILABLE", _("MLflow answered with something other than JSON.")
            )
        return JsonResponse(answer)
    return _relay(upstream)


def _query(params) -> list[tuple[str, str]]:
    if hasattr(params, "lists"):
        return [(key, value) for key, values in params.lists() for value in values]
    pairs = []
    for key, value in params.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((key, str(item)))
    return pairs


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


def _artifact_scope(path: str) -> str:
    """The experiment id an artifact path is under (its first part); refuses escapes."""
    path = unquote(path or "").strip("/")
    parts = path.split("/")
    if not path or ".." in parts or "\\" in path or "\x00" in path:
        raise _bad(_("Artifact paths are relative and may not contain '..'."))
    if not parts[0].isdigit():
        raise _not_found()
    return parts[0]


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
        experiment_id = _artifact_scope(target)
        scope.require(_gateway(gateway.experiment_project, experiment_id), need)
    except Refused as refused:
        return _error(refused.status, refused.code, refused.message)

    base = f"{gateway._base_url()}/api/2.0/mlflow-artifacts/artifacts"
    url = base if listing else f"{base}/{path}"
    session = _session()
    try:
        if request.method == "PUT":
            length = int(request.META.get("CONTENT_LENGTH") or 0)
            upstream = session.put(
                url,
                data=_Upload(request, length) if length else b"",
                headers={"Content-Type": request.content_type or "application/octet-stream"},
                timeout=_timeout(read=300),
            )
            return _relay(upstream)
        if request.method == "DELETE":
            return _relay(session.delete(url, timeout=_timeout()))
        if listing:
            return _relay(session.get(url, params={"path": target}, timeout=_timeout()))
        upstream = session.get(url, stream=True, timeout=_timeout(read=300))
    except requests.RequestException as error:
        return _upstream_error(error)
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
        return _error(refused.status, refused.code, refused.message)
    if request.method != "GET":
        return _error(405, "ENDPOINT_NOT_FOUND", _("Method not allowed."))
    try:
        upstream = _session().get(f"{gateway._base_url()}/api/3.0/mlflow/server-info", timeout=_timeout())
    except requests.RequestException as error:
        return _upstream_error(error)
    return _relay(upstream)


@csrf_exempt
def unknown(request: HttpRequest, rest: str = "") -> HttpResponse:
    return _error(404, "ENDPOINT_NOT_FOUND", _("This MLflow route is not available through Taller."))
