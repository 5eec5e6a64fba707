"""The proxy reads each request as MLflow's server will, and passes on only what it checked.

The fields and their spellings come from MLflow's own protobuf descriptors (the messages its
server parses), so a field or an alias added to MLflow is enumerated here without a change.
"""

import json
import logging

import pytest
from django.test import Client
from google.protobuf.descriptor import FieldDescriptor

from experiments import gateway, proxy_policy
from portal.accounts.actions import create_token

from .proxy_cases import CASES, World

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ID_SUFFIXES = ("_id", "_ids", "_uuid")
# Id fields that name nothing the tracking server keeps per project.
NAMES_NOTHING = {"user_id", "deployment_job_id"}


def _kind(name: str) -> str | None:
    """What an id field names, by MLflow's naming (independent of the proxy's own table)."""
    if name in NAMES_NOTHING or not name.endswith(ID_SUFFIXES):
        return None
    if name.startswith("experiment_id"):
        return "experiment"
    if name.startswith("run_") or name.endswith("run_id"):
        return "run"
    if name == "model_id":
        return "logged model"
    return "unknown"


# What the proxy says when it refuses, as opposed to what MLflow would answer.
PROXY_REFUSALS = (
    "Not found, or not yours to see.",
    "are one field: send it once.",
    "'run_id' and 'run_uuid' name different runs.",
    "differs between the path and the body.",
    "Everything one request names must belong to one project.",
    "is given more than once.",
    "'model_json' names another run than 'run_id'.",
)


def _descriptor(key):
    return gateway.request_messages()[key]


def _fields(descriptor, path=()):
    """(path of field descriptors) to every field of a message, at any depth."""
    for field in descriptor.fields:
        yield (*path, field)
        if field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
            yield from _fields(field.message_type, (*path, field))


def test_every_id_field_of_every_route_is_looked_at():
    """A field that names an object is checked by the proxy (REFERENCES), as what it names."""
    wrong = set()
    for key in proxy_policy.ROUTES:
        for path in _fields(_descriptor(key)):
            name = path[-1].name
            if name.endswith(ID_SUFFIXES) and name not in NAMES_NOTHING:
                if _kind(name) == "unknown" or proxy_policy.REFERENCES.get(name) != _kind(name):
                    wrong.add((key, name))
            elif name in NAMES_NOTHING:
                assert name in proxy_policy.NOT_REFERENCES
    assert wrong == set()


def test_every_field_type_of_every_route_is_checked():
    from experiments import proxy_parse

    assert [f for key in proxy_policy.ROUTES for f in proxy_parse.unsupported_fields(_descriptor(key))] == []


@pytest.fixture
def worlds(personas, physics, mlflow_uri):
    return World("genomics"), World("physics")


def _snapshot(world: World) -> dict:
    """Everything of a project an attack could change, read straight from MLflow."""
    client = world.client
    run = client.get_run(world.run_id)
    logged = client.get_logged_model(world.logged_model_id)
    experiment = client.get_experiment(world.experiment_id)
    return {
        "run": run.to_dictionary(),
        "experiment": (experiment.name, experiment.lifecycle_stage, dict(experiment.tags)),
        "logged": (logged.status, dict(logged.tags), dict(logged.params), logged.metrics),
        "model": client.get_registered_model(world.model).tags,
    }


def _refused_by_the_proxy(answer) -> bool:
    if answer.status_code not in {400, 403, 404}:
        return False
    message = answer.json().get("message", "")
    return any(fragment in message for fragment in PROXY_REFUSALS)


def _containers(body: dict, path) -> list[dict]:
    """The dicts of ``body`` that hold the last field of ``path`` (in the first item of each list)."""
    containers = [body]
    for field in path[:-1]:
        value = containers[0].get(field.name)
        if isinstance(value, list):
            value = value[0] if value else None
        if not isinstance(value, dict):
            return []
        containers = [value]
    return containers


def _object_of(kind: str, world: World) -> str:
    return {"experiment": world.experiment_id, "run": world.run_id, "logged model": world.logged_model_id}[
        kind
    ]


def _attacks(request, key, theirs: World):
    """Variants of one valid request (label, its query or body) that name another project's
    object, under each spelling of each id field, at any depth."""
    for path in _fields(_descriptor(key)):
        field = path[-1]
        kind = _kind(field.name)
        if kind is None:
            continue
        other = _object_of(kind, theirs)
        value = [other] if field.is_repeated else other
        if request.method == "GET":
            if len(path) > 1:
                continue
            params = dict(request.params)
            mine = params.get(field.name)
            yield f"{field.name}=theirs", {**params, field.name: value}
            if mine:
                both = ([*mine] if isinstance(mine, list) else [mine]) + [other]
                if not field.is_repeated:
                    yield f"{field.name} twice", {**params, field.name: both}
            yield f"{field.json_name}=theirs", {**params, field.json_name: value}
            continue
        for spelling in {field.name, field.json_name}:
            body = json.loads(json.dumps(request.body))
            containers = _containers(body, path)
            if not containers:
                # The valid request has no item to carry this field: one is added, which must be
                # valid otherwise (so that only the proxy's check can refuse it).
                assert len(path) == 1, (key, [f.name for f in path])
                containers = [body]
            containers[0][spelling] = value
            yield f"{'.'.join(f.name for f in path[:-1])}.{spelling}=theirs", body
            if spelling != field.name and field.name in containers[0]:
                alone = json.loads(json.dumps(body))
                _containers(alone, path)[0].pop(field.name)
                yield f"{spelling} alone=theirs", alone


def test_no_spelling_of_any_id_field_reaches_another_projects_object(tokens, call, worlds):
    genomics, physics = worlds
    before = _snapshot(physics)
    leaks, tried = [], 0
    for key, case in CASES.items():
        request = case.build(genomics)
        for label, changed in _attacks(request, key, physics):
            kwargs = {"params": changed} if request.method == "GET" else {"json": changed}
            answer = call(tokens.bob, request.method, request.route, **kwargs)
            tried += 1
            if request.method == "GET" and answer.status_code == 200:
                # A JSON name in a query is no field to MLflow either: the request is bob's own.
                if any(i in answer.text for i in (physics.run_id, physics.logged_model_id, physics.model)):
                    leaks.append((key, label, answer.text[:200]))
            elif not _refused_by_the_proxy(answer):
                leaks.append((key, label, answer.status_code, answer.text[:200]))
    assert leaks == []
    assert tried > 100
    assert _snapshot(physics) == before


RUN_WRITES = [
    key
    for key, case in CASES.items()
    if case.writes and "run_id" in {f.name for f in _descriptor(key).fields}
]


def test_run_uuid_of_ones_own_run_and_runId_of_anothers_is_refused(tokens, call, worlds):
    """The reported attack, on every write whose message names a run: MLflow acts on `runId`."""
    genomics, physics = worlds
    assert {("POST", f"runs/{r}") for r in ("log-metric", "log-parameter", "log-batch", "set-tag")} <= set(
        RUN_WRITES
    )
    before = _snapshot(physics)
    for key in RUN_WRITES:
        request = CASES[key].build(genomics)
        body = {k: v for k, v in request.body.items() if k != "run_id"}
        body.update({"run_uuid": genomics.run_id, "runId": physics.run_id})
        answer = call(tokens.bob, request.method, request.route, json=body)
        assert _refused_by_the_proxy(answer), (key, answer.status_code, answer.text)
    assert _snapshot(physics) == before


def _tag_paths(descriptor):
    """Where a message carries tags: its `tags` lists at any depth, or its key if it is a tag call."""
    for path in _fields(descriptor):
        if path[-1].name == "tags" and path[-1].is_repeated:
            yield path
    if "Tag" in descriptor.name:
        for field in descriptor.fields:
            if field.name in ("key", "tag_key"):
                yield (field,)


def test_reserved_tags_are_refused_in_every_place_a_tag_can_be_sent(tokens, call, worlds):
    genomics, _physics = worlds
    tried = set()
    for key, case in CASES.items():
        for path in _tag_paths(_descriptor(key)):
            request = case.build(genomics)
            body = json.loads(json.dumps(request.body or {}))
            route = request.route
            if path[-1].name == "tag_key":
                route = route.rsplit("/", 1)[0] + "/taller.project"
            elif path[-1].name == "key":
                body["key"] = "taller.job_id"
            else:
                containers = _containers(body, path) or [body]
                tags = containers[0].setdefault("tags", [])
                tags.append({"key": "taller.job_id", "value": "999"})
            answer = call(tokens.bob, request.method, route, json=body)
            assert answer.status_code == 403, (key, answer.text)
            assert answer.json()["message"] == "Tags starting with 'taller.' are set by the portal."
            tried.add(key)
    assert {("POST", "runs/log-batch"), ("POST", "runs/create"), ("POST", "runs/set-tag")} <= tried


# Bad input: answered by the proxy before anything is looked up, so no MLflow server is needed.


@pytest.fixture
def bob_client(personas):
    key = create_token(personas.bob, "bad input")[1]
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def _url(key, request=None) -> str:
    route = key[1].replace("{model_id}", "m-0123abcd").replace("{tag_key}", "k")
    return f"/mlflow/api/2.0/mlflow/{route}"


WRONG = {
    FieldDescriptor.CPPTYPE_STRING: 12,
    FieldDescriptor.CPPTYPE_INT32: "twelve",
    FieldDescriptor.CPPTYPE_INT64: 1.5,
    FieldDescriptor.CPPTYPE_DOUBLE: "a lot",
    FieldDescriptor.CPPTYPE_BOOL: "yes",
    FieldDescriptor.CPPTYPE_ENUM: "NO_SUCH_VALUE",
    FieldDescriptor.CPPTYPE_MESSAGE: "not an object",
}
WRONG_IN_QUERY = {
    FieldDescriptor.CPPTYPE_INT32: "twelve",
    FieldDescriptor.CPPTYPE_INT64: "1.5",
    FieldDescriptor.CPPTYPE_BOOL: "maybe",
    FieldDescriptor.CPPTYPE_ENUM: "NO_SUCH_VALUE",
}


def _assert_json_400(answer, what):
    assert answer.status_code == 400, (what, answer.status_code, answer.content[:200])
    assert answer["Content-Type"] == "application/json", what
    assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE", what


def test_a_value_of_the_wrong_type_is_a_400_on_every_route_and_field(bob_client):
    tried = 0
    for key in CASES:
        method = key[0]
        for field in _descriptor(key).fields:
            if method == "GET":
                wrong = WRONG_IN_QUERY.get(field.cpp_type)
                values = [wrong] if wrong is not None else []
                if not field.is_repeated:
                    values.append(["one", "two"])  # a singular field given twice
                for value in values:
                    answer = bob_client.get(_url(key), {field.name: value})
                    _assert_json_400(answer, (key, field.name, value))
                    tried += 1
                continue
            wrong = WRONG[field.cpp_type]
            for spelling in {field.name, field.json_name}:
                for value in ([wrong], "not a list") if field.is_repeated else (wrong, [wrong]):
                    answer = bob_client.generic(
                        method, _url(key), json.dumps({spelling: value}), content_type="application/json"
                    )
                    _assert_json_400(answer, (key, spelling, value))
                    tried += 1
    assert tried > 300


def test_two_spellings_of_one_field_are_a_400_even_when_equal(bob_client):
    for key in CASES:
        if key[0] == "GET":
            continue
        for field in _descriptor(key).fields:
            if field.name == field.json_name or field.cpp_type != FieldDescriptor.CPPTYPE_STRING:
                continue
            value = ["1"] if field.is_repeated else "1"
            body = json.dumps({field.name: value, field.json_name: value})
            _assert_json_400(
                bob_client.generic(key[0], _url(key), body, content_type="application/json"), key
            )


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,
        b'{"a":' * 100_000,
        b'{"run_id": "a", "run_id": "b"}',
        b'"{\\"run_id\\": \\"a\\"}"',  # a JSON string (MLflow decodes those a second time)
        b"[]",
        b"{nope",
        b"\xff\xfe\x00",
    ],
    ids=[
        "nested-lists",
        "nested-objects",
        "duplicate-keys",
        "double-encoded",
        "list",
        "not-json",
        "not-utf8",
    ],
)
def test_a_body_that_is_not_one_json_object_is_a_400_on_every_route(bob_client, body):
    for key in CASES:
        if key[0] != "GET":
            answer = bob_client.generic(key[0], _url(key), body, content_type="application/json")
            _assert_json_400(answer, key)


def test_an_oversized_body_is_a_json_413(bob_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"run_id": "a" * 32, "key": "k", "value": "x" * 2000})
    answer = bob_client.post(_url(("POST", "runs/set-tag")), body, content_type="application/json")
    assert answer.status_code == 413
    assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_renaming_an_experiment_to_a_non_string_is_a_400(tokens, call, worlds):
    genomics, _physics = worlds
    for new_name in (12, ["genomics/x"], {"a": 1}, True):
        answer = call(
            tokens.bob,
            "POST",
            "api/2.0/mlflow/experiments/update",
            json={"experiment_id": genomics.experiment_id, "new_name": new_name},
        )
        assert answer.status_code == 400, (new_name, answer.text)
        assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_a_logged_models_id_in_the_body_must_be_the_paths(tokens, call, worlds):
    """MLflow finalizes the model named in the body, not the path's."""
    genomics, physics = worlds
    before = _snapshot(physics)
    for spelling in ("model_id", "modelId"):
        answer = call(
            tokens.bob,
            "PATCH",
            f"api/2.0/mlflow/logged-models/{genomics.logged_model()}",
            json={spelling: physics.logged_model_id, "status": "LOGGED_MODEL_UPLOAD_FAILED"},
        )
        assert answer.status_code == 400, answer.text
    assert _snapshot(physics) == before


def test_a_logged_model_of_another_project_cannot_be_tied_to_ones_run(tokens, call, worlds, personas):
    """Also when the token may write both projects: one write, one project."""
    from portal.projects.models import Membership, Role

    genomics, physics = worlds
    Membership.objects.create(project=personas.project, user=personas.charlie, role=Role.MEMBER)
    tied = call(
        tokens.charlie,
        "POST",
        "api/2.0/mlflow/runs/log-inputs",
        json={"run_id": genomics.run_id, "models": [{"model_id": physics.logged_model_id}]},
    )
    assert tied.status_code == 400
    assert tied.json()["message"] == "Everything one request names must belong to one project."


def test_an_artifact_location_is_the_portals_choice(tokens, call, worlds):
    answer = call(
        tokens.bob,
        "POST",
        "api/2.0/mlflow/experiments/create",
        json={"name": "genomics/elsewhere", "artifactLocation": "file:///etc"},
    )
    assert answer.status_code == 400


def test_artifact_paths_cannot_climb_into_another_projects_experiment(tokens, call, worlds):
    genomics, physics = worlds
    inside = f"{physics.experiment_id}/{physics.run_id}/artifacts/notes/readme.txt"
    base = "api/2.0/mlflow-artifacts/artifacts"
    # Straight at it: physics is not bob's.
    assert call(tokens.bob, "GET", f"{base}/{inside}").status_code == 404
    climbs = [
        f"{genomics.experiment_id}/%2E%2E/{inside}",
        f"{genomics.experiment_id}/%2e%2e/{inside}",
        f"{genomics.experiment_id}/%252E%252E/{inside}",
        f"{genomics.experiment_id}/x/%2E%2E/%2E%2E/{inside}",
        f"{genomics.experiment_id}/..%5C{inside}",
        f"{genomics.experiment_id}%2F%2E%2E%2F{inside}",
    ]
    for path in climbs:
        for method in ("GET", "PUT", "DELETE"):
            answer = call(tokens.bob, method, f"{base}/{path}", data=b"x" if method == "PUT" else None)
            assert answer.status_code == 400, (method, path, answer.status_code, answer.text[:200])
            assert answer.json()["message"] == "Artifact paths are relative and may not contain '..'."
    for listing in (f"{genomics.experiment_id}/../{inside}", f"{genomics.experiment_id}/%2E%2E/{inside}"):
        answer = call(tokens.bob, "GET", base, params={"path": listing})
        assert answer.status_code == 400, (listing, answer.text)
        assert answer.json()["message"] == "Artifact paths are relative and may not contain '..'."
    assert physics.client.download_artifacts(physics.run_id, "notes/readme.txt")  # it is there


@pytest.fixture
def gateway_log(caplog, monkeypatch):
    """What the gateway logs, whatever an earlier test of the session did to logging's setup."""
    logger = logging.getLogger("experiments.gateway")
    monkeypatch.setattr(logger, "disabled", False)
    caplog.set_level(logging.WARNING, logger=logger.name)
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)


def test_mlflows_error_details_are_logged_not_shown(tokens, call, worlds, gateway_log):
    genomics, _physics = worlds
    name = {"name": "genomics/twice"}
    assert call(tokens.bob, "POST", "api/2.0/mlflow/experiments/create", json=name).status_code == 200
    again = call(tokens.bob, "POST", "api/2.0/mlflow/experiments/create", json=name)
    # The code a client acts on is kept (mlflow.set_experiment relies on it); the SQL is not shown.
    assert again.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    assert again.json()["message"] == "MLflow already has an object of that name."
    huge = call(
        tokens.bob,
        "POST",
        "api/2.0/mlflow/runs/search",
        json={
            "experiment_ids": [genomics.experiment_id],
            "filter": "attributes.start_time > 99999999999999999999999",
        },
    )
    assert huge.status_code == 502
    for answer in (again, huge):
        for detail in ("SQL", "sqlite", "SQLite", "INSERT", "UNIQUE", "sqlalche"):
            assert detail not in answer.text, answer.text
    logged = gateway_log.text
    assert "UNIQUE constraint failed" in logged and "[SQL:" in logged
    assert "too large to convert to SQLite INTEGER" in logged
    # MLflow's own validation messages still reach the user who needs them.
    bad = call(
        tokens.bob,
        "POST",
        "api/2.0/mlflow/runs/search",
        json={"experiment_ids": [genomics.experiment_id], "filter": "metrics.acc >>> 1"},
    )
    assert bad.status_code == 400 and "comparator '>>>'" in bad.json()["message"]


def test_the_pages_and_the_api_show_no_database_error_either(personas, worlds, gateway_log):
    filter_string = "attributes.start_time > 99999999999999999999999"
    genomics, _physics = worlds
    page = personas.client("bob").get(
        f"/projects/genomics/experiments/{genomics.experiment_id}/", {"filter": filter_string}
    )
    api = personas.client("bob").get(
        "/api/v1/runs/",
        {"project": "genomics", "experiment": genomics.experiment_id, "filter": filter_string},
    )
    for answer in (page, api):
        assert answer.status_code in {200, 400, 502, 503}, (answer.status_code, answer.content[:300])
        assert b"SQLite" not in answer.content and b"sqlite" not in answer.content
    assert "too large to convert to SQLite INTEGER" in gateway_log.text


def test_non_finite_metrics_and_64_bit_strings_pass_through_as_mlflow_reads_them(
    tokens, call, worlds, stock_client
):
    """The rebuilt body keeps what protobuf's JSON allows: 'NaN'/'Infinity' doubles, int64 as text."""
    import math

    from mlflow.entities import Metric

    genomics, _physics = worlds
    client = stock_client(tokens.bob)
    client.log_batch(
        genomics.run_id,
        metrics=[
            Metric("odd", math.nan, 1, 0),
            Metric("odd", math.inf, 2, 1),
            Metric("odd", -math.inf, 3, 2),
        ],
    )
    raw = call(
        tokens.bob,
        "POST",
        "api/2.0/mlflow/runs/log-metric",
        json={
            "run_id": genomics.run_id,
            "key": "text",
            "value": "NaN",
            "timestamp": "1700000000000",
            "step": "3",
        },
    )
    assert raw.status_code == 200, raw.text
    history = genomics.client.get_metric_history(genomics.run_id, "odd")
    values = [m.value for m in sorted(history, key=lambda m: m.step)]
    # (MLflow's SQL store keeps infinities as the largest finite doubles.)
    assert math.isnan(values[0]) and values[1] > 1e308 and values[2] < -1e308
    (text,) = genomics.client.get_metric_history(genomics.run_id, "text")
    assert math.isnan(text.value) and text.timestamp == 1700000000000 and text.step == 3


@pytest.mark.parametrize("value", ["²", "٣", "01", "-1", " 1", "99999999999999999999", "1e3"])
def test_an_experiment_id_that_mlflow_never_writes_is_a_404(bob_client, value):
    answer = bob_client.get(_url(("GET", "experiments/get")), {"experiment_id": value})
    assert answer.status_code == 404, answer.content
    answer = bob_client.get(f"/mlflow/api/2.0/mlflow-artifacts/artifacts/{value}/x.txt")
    assert answer.status_code == 404, answer.content


def test_a_renamed_experiment_or_model_keeps_its_prefix_under_either_spelling(tokens, call, worlds):
    """`newName` is `new_name` to MLflow: a rename into another project's namespace is refused."""
    genomics, _physics = worlds
    for spelling in ("new_name", "newName"):
        moved = call(
            tokens.bob,
            "POST",
            "api/2.0/mlflow/experiments/update",
            json={"experiment_id": genomics.experiment_id, spelling: "physics/squatted"},
        )
        assert moved.status_code == 403, (spelling, moved.text)
        renamed = call(
            tokens.bob,
            "POST",
            "api/2.0/mlflow/registered-models/rename",
            json={"name": genomics.model, spelling: "physics.squatted"},
        )
        assert renamed.status_code == 403, (spelling, renamed.text)
    assert genomics.client.get_experiment(genomics.experiment_id).name == "genomics/demo"


def test_a_version_source_cannot_climb_out_encoded(tokens, call, worlds):
    genomics, physics = worlds
    for source in (
        f"mlflow-artifacts:/{genomics.experiment_id}/%2E%2E/{physics.experiment_id}/{physics.run_id}/artifacts",
        f"runs:/{genomics.run_id}/%2e%2e/%2e%2e/{physics.run_id}/artifacts",
    ):
        answer = call(
            tokens.bob,
            "POST",
            "api/2.0/mlflow/model-versions/create",
            json={"name": genomics.model, "source": source},
        )
        assert answer.status_code == 403, (source, answer.text)
