"""The tracking proxy's policy: who may call which MLflow route, on which objects.

- a token names a user, and optionally one project (the job-scoped tokens); what it may reach
  comes from ``portal/projects/access.py``, as for the pages and the API (``proxy_scope``);
- every field that names an MLflow object, wherever it sits in the message (``REFERENCES``:
  experiment ids, run ids, logged model ids), and each route's own object (a registered
  model's name, an experiment's name prefix, a version's source) is looked up: the object's
  project comes from its experiment's ``taller.project`` tag (cached) or from the model name's
  ``<slug>.`` prefix;
- reading needs the viewer role, writing the member role; a project the token may not see
  is a 404, one it sees but may not write a 403; a write names objects of one project only;
- the ``taller.*`` tags that tie objects to projects and jobs are set by the portal only;
- searches are narrowed to what the token may see, and routes not in ``ROUTES`` are a 404:
  nothing reaches MLflow unchecked.

``proxy.py`` reads each request and forwards what this module let through.
"""

from urllib.parse import unquote

from django.utils.translation import gettext as _

from . import gateway, proxy_parse
from .proxy_scope import Call, Need, Refused, Route, bad, not_found, project_of

RESERVED_TAG_PREFIX = "taller."


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


def _references(message: dict, found: list[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
    """(kind, id) of every object a rebuilt message names, at any depth, in the message's order:
    what ``proxy_parse.Found`` notes while the request is read, for the values a rule sets after."""
    found = [] if found is None else found
    for name, value in message.items():
        kind = REFERENCES.get(name)
        if isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    _references(item, found)
                elif kind is not None and isinstance(item, str):
                    found.append((kind, item))  # an empty id in a list names nothing: a 404
        elif isinstance(value, dict):
            _references(value, found)
        elif kind is not None and isinstance(value, str) and value:
            found.append((kind, value))
    return found


# Route rules: what a route checks beyond the objects its fields name -------------------------


def _slug_of_name(name: str, what: str, separator: str) -> str:
    slug = name.split(separator, 1)[0] if separator in name else ""
    if not slug or not name.split(separator, 1)[1]:
        raise bad(
            _("The %(what)s name must start with the project: '<project>%(sep)s%(name)s'.")
            % {"what": what, "name": name, "sep": separator}
        )
    return slug


def _with_project_tag(call: Call, slug: str) -> None:
    call.params["tags"] = [*call.params.get("tags", []), {"key": gateway.PROJECT_TAG, "value": slug}]


def _create_experiment(call: Call) -> None:
    if call.params.get("artifact_location"):
        raise bad(_("The portal chooses where an experiment's artifacts are kept."))
    slug = _slug_of_name(_param(call, "name"), _("experiment"), "/")
    call.claim(slug)
    _with_project_tag(call, slug)


def _update_experiment(call: Call) -> None:
    """A renamed experiment keeps its project's prefix (the name and the tag must agree)."""
    slug = project_of("experiment", _param(call, "experiment_id"))
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
            raise not_found()
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
        ours = f"tags.`{gateway.PROJECT_TAG}` = {gateway.filter_literal(slug)}"
    else:
        ours = f"tags.`{gateway.PROJECT_TAG}` IS NOT NULL"
    theirs = call.params.get("filter", "")
    call.params["filter"] = f"{theirs} and {ours}" if theirs.strip() else ours
    call.check_response = narrow


def _experiment_slug(experiment: dict) -> str:
    tags = {t.get("key"): t.get("value") for t in experiment.get("tags") or []}
    return gateway.owner_of(experiment.get("name", ""), tags.get(gateway.PROJECT_TAG, ""))


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
        return project_of("run", source.removeprefix("runs:/").split("/", 1)[0])
    if source.startswith("models:/"):
        return project_of("logged model", source.removeprefix("models:/").split("/", 1)[0])
    if source.startswith("mlflow-artifacts:/"):
        experiment_id = source.removeprefix("mlflow-artifacts:").lstrip("/").split("/", 1)[0]
        return project_of("experiment", experiment_id)
    return ""


def _log_model(call: Call) -> None:
    """The model's JSON names its run too: it must be the run the request names."""
    try:
        model = proxy_parse.parse_json(_param(call, "model_json").encode())
    except proxy_parse.Malformed:
        raise bad(_("'model_json' must be a JSON object.")) from None
    if model.get("run_id") not in (None, call.params["run_id"]):
        raise bad(_("'model_json' names another run than 'run_id'."))


def _param(call: Call, name: str) -> str:
    value = call.params.get(name)
    if not isinstance(value, str) or not value:
        raise bad(_("Missing parameter: %(name)s.") % {"name": name})
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


def refuse_reserved_tags(params: dict, descriptor, tag_keys: list) -> None:
    """The taller.* tags tie objects to projects and jobs: only the portal itself sets them.

    Refused (not silently dropped) wherever a client could send one: the key of a tag route
    (set-tag, delete-tag; a logged model's tag key in the path), and every tag of a ``tags``
    list at any depth (log-batch, run, experiment, model, version and logged-model creation,
    dataset inputs): ``tag_keys``, noted while the request was read (``proxy_parse.Found``).
    """
    keys = [params.get("key"), params.get("tag_key")] if "Tag" in descriptor.name else []
    keys += tag_keys
    if any(isinstance(key, str) and key.startswith(RESERVED_TAG_PREFIX) for key in keys):
        raise Refused(403, "PERMISSION_DENIED", _("Tags starting with 'taller.' are set by the portal."))


def authorize(call: Call) -> None:
    """``call.references``: the objects the request's message names, noted while it was read. A
    rule may set values of the message (the project's tag, a narrowed filter): whatever objects
    those name are looked up too, so that every object of what is forwarded is checked."""
    for name in call.route.required:
        if not call.params.get(name):
            raise bad(_("Missing parameter: %(name)s.") % {"name": name})
    references = call.references
    if call.route.rule is not None:
        read = dict(call.params)
        call.route.rule(call)
        references = [
            *references,
            *_references({name: value for name, value in call.params.items() if read.get(name) is not value}),
        ]
    for kind, value in dict.fromkeys(references):  # each object once (a batch repeats them)
        call.claim(project_of(kind, value))
