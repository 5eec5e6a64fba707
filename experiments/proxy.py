"""The authorizing MLflow tracking proxy under /mlflow/.

A stock ``mlflow`` client with ``MLFLOW_TRACKING_URI=<portal>/mlflow`` and
``MLFLOW_TRACKING_TOKEN=<portal API token>`` talks to the upstream tracking server through
here. Every request is authorized before it is passed on:

- the token (``Authorization: Bearer <key>``) names a user, and optionally one project
  (the job-scoped tokens); no token or a bad one is a 401;
- the request is read once, as MLflow's server will read it (``proxy_parse``: every spelling
  of every field from MLflow's own protobuf descriptors, types checked, two spellings of one
  field refused), and what is passed on is the message rebuilt from what was checked;
- every field that names an MLflow object, wherever it sits in the message (``REFERENCES``:
  experiment ids, run ids, logged model ids), and each route's own object (a registered
  model's name, an experiment's name prefix, a version's source) is looked up: the object's
  project comes from its experiment's ``taller.project`` tag (cached) or from the model name's
  ``<slug>.`` prefix;
- reading needs the viewer role, writing the member role; a project the token may not see
  is a 404, one it sees but may not write a 403; a write names objects of one project only;
- the ``taller.*`` tags that tie objects to projects and jobs are set by the portal only;
- searches are narrowed to what the token may see, and routes not listed here are a 404:
  nothing reaches MLflow unchecked.

MLflow's error answers are passed on with their code, but their text only where it is
MLflow's own validation message (``gateway.client_message``): database errors are logged.
Artifact uploads and downloads are streamed.
"""

import logging
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

import requests
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from portal.accounts.actions import authenticate_token
from portal.accounts.authentication import key_from_header
from portal.projects.access import Need, level_of
from portal.projects.models import Membership, Project

from . import gateway, proxy_parse

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
    route: "Route"
    params: dict  # the request's message, rebuilt from what was checked (proto field names)
    path: dict[str, str] = field(default_factory=dict)  # the route's path parameters (a logged model id)
    slug: str | None = None  # the one project a write touches, once known
    check_response: Callable[[dict], dict | None] | None = None  # narrows or checks the answer

    def claim(self, slug: str) -> None:
        """The request touches ``slug``: the token needs the route's role there, and a write
        touches one project only (so nothing of one project is tied to another's objects)."""
        self.scope.require(slug, self.route.need)
        if self.route.need < Need.CHANGE:
            return
        if self.slug is None:
            self.slug = slug
        elif self.slug != slug:
            raise _bad(_("Everything one request names must belong to one project."))


@dataclass(frozen=True)
class Route:
    """One proxied MLflow route: the role it needs, the fields that must name its object, and
    its own rule (names, prefixes, narrowing), run before every object it names is checked."""

    need: Need
    required: tuple[str, ...] = ()
    rule: Callable[[Call], None] | None = None


# Fields that name an MLflow object, wherever they sit in a request message (proto names), and
# what they name. Each is looked up and claimed for the request.
REFERENCES = {
    "experiment_id": "experiment",
    "experiment_ids": "experiment",
    "run_id": "run",
    "run_uuid": "run",
    "run_ids": "run",
    "source_run_id": "run",
    "model_id": "logged model",
}
# Fields that look like ids but name nothing the tracking server scopes. Every field of a
# proxied message whose name ends in _id, _ids or _uuid is in one of the two tables (the tests
# read MLflow's descriptors), so a new id field cannot pass unlooked-at.
NOT_REFERENCES = {
    "user_id": "the user name MLflow records on a run, free text",
    "deployment_job_id": "a Databricks deployment job; the open-source server only stores it",
}


_EXPERIMENT_ID = re.compile(r"0|[1-9][0-9]{0,18}")  # MLflow's, as it writes them (ASCII, no leading 0)


def _project_of(kind: str, value: str) -> str:
    if kind == "experiment":
        if not _EXPERIMENT_ID.fullmatch(value) or int(value) >= 2**63:
            raise _not_found()
        return _gateway(gateway.experiment_project, value)
    if not gateway._looks_like_id(value):
        raise _not_found()
    if kind == "run":
        return _gateway(gateway.run_project, value)[0]
    return _gateway(gateway.logged_model_project, value)


def _references(message: dict) -> Iterator[tuple[str, str]]:
    """(kind, id) of every object a rebuilt message names, at any depth."""
    for name, value in message.items():
        kind = REFERENCES.get(name)
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict):
                yield from _references(item)
            elif kind is not None and isinstance(item, str):
                if item or isinstance(value, list):
                    yield kind, item  # an empty id in a list names nothing: a 404


def _gateway(function, *args):
    try:
        return function(*args)
    except gateway.GatewayError as error:
        if error.status == 404:
            raise _not_found() from error
        if error.status == 400:
            raise _bad(str(error)) from error
        raise Refused(502, "TEMPORARILY_UNAVAILABLE", str(error)) from error


def _tag_keys(message: dict) -> Iterator[str]:
    for name, value in message.items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict):
                if name == "tags":
                    yield item.get("key")
                yield from _tag_keys(item)


# Route rules: what a route checks beyond the objects its fields name -------------------------


def _slug_of_name(name: str, what: str, separator: str) -> str:
    slug = name.split(separator, 1)[0] if separator in name else ""
    if not slug or not name.split(separator, 1)[1]:
        raise _bad(
            _("The %(what)s name must start with the project: '<project>%(sep)s%(name)s'.")
            % {"what": what, "name": name, "sep": separator}
        )
    return slug


def _with_project_tag(call: Call, slug: str) -> None:
    call.params["tags"] = [*call.params.get("tags", []), {"key": gateway.PROJECT_TAG, "value": slug}]


def _create_experiment(call: Call) -> None:
    if call.params.get("artifact_location"):
        raise _bad(_("The portal chooses where an experiment's artifacts are kept."))
    slug = _slug_of_name(_param(call, "name"), _("experiment"), "/")
    call.claim(slug)
    _with_project_tag(call, slug)


def _update_experiment(call: Call) -> None:
    """A renamed experiment keeps its project's prefix (the name and the tag must agree)."""
    slug = _project_of("experiment", _param(call, "experiment_id"))
    call.claim(slug)
    new_name = call.params.get("new_name")
    if new_name and gateway.experiment_name_project(new_name) != slug:
        raise Refused(403, "PERMISSION_DENIED", _("An experiment keeps its project prefix."))


def _experiment_by_name(call: Call) -> None:
    name = _param(call, "experiment_name")
    slug = gateway.experiment_name_project(name)
    call.claim(slug)

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
    theirs = call.params.get("filter", "")
    call.params["filter"] = f"{theirs} and {ours}" if theirs.strip() else ours
    call.check_response = narrow


def _experiment_slug(experiment: dict) -> str:
    tags = {t.get("key"): t.get("value") for t in experiment.get("tags") or []}
    return gateway._owner_of(experiment.get("name", ""), tags.get(gateway.PROJECT_TAG, ""))


def _narrow_models(key: str):
    def rule(call: Call) -> None:
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

    return rule


def _model(call: Call) -> None:
    """Registry routes name their model: its project is the name's `<slug>.` prefix."""
    call.claim(gateway.model_project(_param(call, "name")))


def _create_model(call: Call) -> None:
    slug = _slug_of_name(_param(call, "name"), _("model"), gateway.MODEL_SEPARATOR)
    call.claim(slug)
    _with_project_tag(call, slug)


def _rename_model(call: Call) -> None:
    slug = gateway.model_project(_param(call, "name"))
    call.claim(slug)
    if gateway.model_project(_param(call, "new_name")) != slug:
        raise Refused(403, "PERMISSION_DENIED", _("A model keeps its project prefix."))


def _create_version(call: Call) -> None:
    """A version's source (and its run and logged model, checked as references) must be the
    model's project's own artifacts."""
    _model(call)
    source = _source_project(_param(call, "source"))
    if not source:
        raise Refused(403, "PERMISSION_DENIED", _("The source must be an artifact of this project."))
    call.claim(source)


def _source_project(source: str) -> str:
    if ".." in unquote(source).split("/") or "\\" in unquote(source):
        return ""
    if source.startswith("runs:/"):
        return _project_of("run", source.removeprefix("runs:/").split("/", 1)[0])
    if source.startswith("models:/"):
        return _project_of("logged model", source.removeprefix("models:/").split("/", 1)[0])
    if source.startswith("mlflow-artifacts:/"):
        experiment_id = source.removeprefix("mlflow-artifacts:").lstrip("/").split("/", 1)[0]
        return _project_of("experiment", experiment_id)
    return ""


def _log_model(call: Call) -> None:
    """The model's JSON names its run too: it must be the run the request names."""
    try:
        model = proxy_parse.parse_json(_param(call, "model_json").encode())
    except proxy_parse.Malformed:
        raise _bad(_("'model_json' must be a JSON object.")) from None
    if model.get("run_id") not in (None, call.params["run_id"]):
        raise _bad(_("'model_json' names another run than 'run_id'."))


def _param(call: Call, name: str) -> str:
    value = call.params.get(name)
    if not isinstance(value, str) or not value:
        raise _bad(_("Missing parameter: %(name)s.") % {"name": name})
    return value


READ, WRITE = Need.VIEW, Need.CHANGE
EXPERIMENT, EXPERIMENTS, RUN, RUNS, MODEL = (
    ("experiment_id",),
    ("experiment_ids",),
    ("run_id",),
    ("run_ids",),
    ("model_id",),
)

# (method, route under 2.0/mlflow/, as MLflow's descriptors spell it) -> what it needs.
ROUTES: dict[tuple[str, str], Route] = {
    ("POST", "experiments/create"): Route(WRITE, rule=_create_experiment),
    ("GET", "experiments/get"): Route(READ, EXPERIMENT),
    ("GET", "experiments/get-by-name"): Route(READ, rule=_experiment_by_name),
    ("GET", "experiments/search"): Route(READ, rule=_search_experiments),
    ("POST", "experiments/search"): Route(READ, rule=_search_experiments),
    ("POST", "experiments/delete"): Route(WRITE, EXPERIMENT),
    ("POST", "experiments/restore"): Route(WRITE, EXPERIMENT),
    ("POST", "experiments/update"): Route(WRITE, EXPERIMENT, _update_experiment),
    ("POST", "experiments/set-experiment-tag"): Route(WRITE, EXPERIMENT),
    ("POST", "experiments/delete-experiment-tag"): Route(WRITE, EXPERIMENT),
    ("POST", "runs/create"): Route(WRITE, EXPERIMENT),
    ("GET", "runs/get"): Route(READ, RUN),
    ("POST", "runs/search"): Route(READ, EXPERIMENTS),
    ("POST", "runs/update"): Route(WRITE, RUN),
    ("POST", "runs/delete"): Route(WRITE, RUN),
    ("POST", "runs/restore"): Route(WRITE, RUN),
    ("POST", "runs/log-metric"): Route(WRITE, RUN),
    ("POST", "runs/log-parameter"): Route(WRITE, RUN),
    ("POST", "runs/set-tag"): Route(WRITE, RUN),
    ("POST", "runs/delete-tag"): Route(WRITE, RUN),
    ("POST", "runs/log-batch"): Route(WRITE, RUN),
    ("POST", "runs/log-model"): Route(WRITE, RUN, _log_model),
    ("POST", "runs/log-inputs"): Route(WRITE, RUN),
    ("POST", "runs/outputs"): Route(WRITE, RUN),
    ("GET", "metrics/get-history"): Route(READ, RUN),
    ("GET", "metrics/get-history-bulk-interval"): Route(READ, RUNS),
    ("GET", "artifacts/list"): Route(READ, RUN),
    ("POST", "registered-models/create"): Route(WRITE, rule=_create_model),
    ("GET", "registered-models/get"): Route(READ, rule=_model),
    ("GET", "registered-models/search"): Route(READ, rule=_narrow_models("registered_models")),
    ("POST", "registered-models/rename"): Route(WRITE, rule=_rename_model),
    ("PATCH", "registered-models/update"): Route(WRITE, rule=_model),
    ("DELETE", "registered-models/delete"): Route(WRITE, rule=_model),
    ("GET", "registered-models/get-latest-versions"): Route(READ, rule=_model),
    ("POST", "registered-models/get-latest-versions"): Route(READ, rule=_model),
    ("POST", "registered-models/set-tag"): Route(WRITE, rule=_model),
    ("DELETE", "registered-models/delete-tag"): Route(WRITE, rule=_model),
    ("POST", "registered-models/alias"): Route(WRITE, rule=_model),
    ("DELETE", "registered-models/alias"): Route(WRITE, rule=_model),
    ("GET", "registered-models/alias"): Route(READ, rule=_model),
    ("POST", "model-versions/create"): Route(WRITE, rule=_create_version),
    ("GET", "model-versions/get"): Route(READ, rule=_model),
    ("GET", "model-versions/get-download-uri"): Route(READ, rule=_model),
    ("GET", "model-versions/search"): Route(READ, rule=_narrow_models("model_versions")),
    ("PATCH", "model-versions/update"): Route(WRITE, rule=_model),
    ("DELETE", "model-versions/delete"): Route(WRITE, rule=_model),
    ("POST", "model-versions/set-tag"): Route(WRITE, rule=_model),
    ("DELETE", "model-versions/delete-tag"): Route(WRITE, rule=_model),
    ("POST", "model-versions/transition-stage"): Route(WRITE, rule=_model),
    ("POST", "logged-models"): Route(WRITE, EXPERIMENT),
    ("POST", "logged-models/search"): Route(READ, EXPERIMENTS),
    ("GET", "logged-models/{model_id}"): Route(READ, MODEL),
    ("PATCH", "logged-models/{model_id}"): Route(WRITE, MODEL),
    ("DELETE", "logged-models/{model_id}"): Route(WRITE, MODEL),
    ("POST", "logged-models/{model_id}/params"): Route(WRITE, MODEL),
    ("PATCH", "logged-models/{model_id}/tags"): Route(WRITE, MODEL),
    ("DELETE", "logged-models/{model_id}/tags/{tag_key}"): Route(WRITE, MODEL),
    ("GET", "logged-models/{model_id}/artifacts/directories"): Route(READ, MODEL),
}
# Query parameters a route's MLflow handler reads beside its message (they name no object).
EXTRA_QUERY = {("GET", "logged-models/{model_id}"): {"allow_deleted"}}


def match_route(method: str, route: str) -> tuple[tuple[str, str], dict[str, str]] | None:
    """The ROUTES key a request's method and path fall under, with the path's parameters."""
    parts = route.strip("/").split("/")
    if (method, "/".join(parts)) in ROUTES:
        return (method, "/".join(parts)), {}
    for key in ROUTES:
        if key[0] != method or "{" not in key[1]:
            continue
        pattern = key[1].split("/")
        if len(pattern) != len(parts):
            continue
        values = {}
        for expected, given in zip(pattern, parts, strict=True):
            if expected.startswith("{"):
                values[expected.strip("{}")] = given
            elif expected != given:
                break
        else:
            return key, values
    return None


def _read(request: HttpRequest, key: tuple[str, str], path: dict[str, str]) -> dict:
    """The request's message, read once (see proxy_parse), with the route's path parameters."""
    descriptor = gateway.request_messages()[key]
    try:
        if request.method == "GET":
            pairs = [(k, v) for k, values in request.GET.lists() for v in values]
            params = proxy_parse.from_query(pairs, descriptor)
            for name in EXTRA_QUERY.get(key, ()):
                if name in request.GET:
                    params[name] = request.GET[name]
        else:
            params = proxy_parse.from_json(proxy_parse.parse_json(request.body), descriptor)
    except proxy_parse.Malformed as malformed:
        raise _bad(malformed.message) from None
    except RequestDataTooBig:
        raise Refused(
            413,
            "INVALID_PARAMETER_VALUE",
            _("The request body is larger than %(limit)s bytes.")
            % {"limit": settings.DATA_UPLOAD_MAX_MEMORY_SIZE},
        ) from None
    for name, value in path.items():
        if value in ("", ".", "..") or "\\" in value:
            raise _bad(_("'%(field)s' is not a valid value in a path.") % {"field": name})
        if params.get(name, value) != value:
            raise _bad(_("'%(field)s' differs between the path and the body.") % {"field": name})
        params[name] = value
    # MLflow acts on `run_id or run_uuid`: one id, under one name, or a 400.
    if "run_uuid" in params:
        run_uuid = params.pop("run_uuid")
        if params.get("run_id", run_uuid) != run_uuid:
            raise _bad(_("'run_id' and 'run_uuid' name different runs."))
        params["run_id"] = run_uuid
    _reserved_tags_of(params, descriptor)
    return params


def _reserved_tags_of(params: dict, descriptor) -> None:
    """The taller.* tags tie objects to projects and jobs: only the portal itself sets them.

    Refused (not silently dropped) wherever a client could send one: the key of a tag route
    (set-tag, delete-tag; a logged model's tag key in the path), and every tag of a ``tags``
    list at any depth (log-batch, run, experiment, model, version and logged-model creation,
    dataset inputs).
    """
    keys = [params.get("key"), params.get("tag_key")] if "Tag" in descriptor.name else []
    keys += _tag_keys(params)
    if any(isinstance(key, str) and key.startswith(RESERVED_TAG_PREFIX) for key in keys):
        raise Refused(403, "PERMISSION_DENIED", _("Tags starting with 'taller.' are set by the portal."))


def _authorize(call: Call) -> None:
    for name in call.route.required:
        if not call.params.get(name):
            raise _bad(_("Missing parameter: %(name)s.") % {"name": name})
    if call.route.rule is not None:
        call.route.rule(call)
    for kind, value in dict.fromkeys(_references(call.params)):  # each object once (a batch repeats them)
        call.claim(_project_of(kind, value))


def _forward_route(key: tuple[str, str], path: dict[str, str]) -> str:
    return key[1].format(**{name: quote(value, safe="") for name, value in path.items()})


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
    return _error(502, "TEMPORARILY_UNAVAILABLE", gateway.unreachable(error))


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
        params = _read(request, key, path)
        call = Call(request=request, scope=scope, route=ROUTES[key], params=params, path=path)
        _authorize(call)
    except Refused as refused:
        return _error(refused.status, refused.code, refused.message)

    url = f"{gateway._base_url()}/{api}/2.0/mlflow/{_forward_route(key, path)}"
    try:
        if request.method == "GET":
            query = {name: value for name, value in call.params.items() if name not in path}
            upstream = _session().get(url, params=proxy_parse.to_query(query), timeout=_timeout())
        else:
            upstream = _session().request(request.method, url, json=call.params, timeout=_timeout())
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
    """The experiment id an artifact path is under (its first part); refuses escapes.

    The path arrives decoded once; it is decoded once more here, so that neither `..` nor
    `%2E%2E` (nor a backslash) can climb out of the experiment the check looked at.
    """
    path = unquote(path or "").strip("/")
    parts = path.split("/")
    if not path or ".." in parts or "\\" in path or "\x00" in path:
        raise _bad(_("Artifact paths are relative and may not contain '..'."))
    if not _EXPERIMENT_ID.fullmatch(parts[0]):
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
    url = base if listing else f"{base}/{quote(path)}"
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
