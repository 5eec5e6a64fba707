"""Bad request bodies on every API write: too deeply nested, too large, or of the wrong type, each
answers a JSON error (400, or 413 for the size) and changes nothing, never a 500 or an HTML page.

The list of writes comes from the API's own schema, so a new endpoint is covered when it is added.
"""

import json

import pytest
from django.conf import settings
from drf_spectacular.generators import SchemaGenerator

from clusterjobs.models import Job
from deployments.models import Deployment
from portal.projects.models import AuditEvent, Membership, Project
from portal.quotas.actions import request_quota
from portal.quotas.models import Quota, QuotaRequest
from tests.factories import ProjectFactory
from tests.sweeps.factories import SweepFactory

pytestmark = pytest.mark.django_db


def write_operations() -> list[tuple[str, str]]:
    """(method, path template) of every operation that takes a JSON request body (a code
    snapshot's upload takes raw bytes, checked against its digest and size in its own tests)."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(
        (method, path)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in {"post", "put", "patch"}
        and "application/json" in operation.get("requestBody", {}).get("content", {})
    )


WRITES = write_operations()


def test_every_write_of_the_api_is_covered():
    assert len(WRITES) >= 10
    assert ("post", "/api/v1/jobs/") in WRITES and ("patch", "/api/v1/projects/{slug}/quota/") in WRITES


@pytest.fixture
def objects(personas):
    """A pending project to decide on, a pending quota request, a sweep and a deployment, beside the
    personas' project: each write's {id} names a real object, so the body is what is refused."""
    pending = ProjectFactory(slug="pending", status=Project.Status.PENDING, requested_by=personas.alice)
    quota_request = request_quota(personas.alice, personas.project, "more", max_gpus=4)
    sweep = SweepFactory(project=personas.project, created_by=personas.bob)
    deployment = Deployment.objects.create(
        project=personas.project,
        name="digits",
        model_name="genomics.digits",
        version="1",
        created_by=personas.bob,
    )
    return {"pending": pending, "request": quota_request, "sweeps": sweep, "deployments": deployment}


def address(template: str, objects) -> str:
    slug = (
        "pending" if template.endswith(("/approve/", "/reject/")) and "{id}" not in template else "genomics"
    )
    kind = template.split("/")[3]  # /api/v1/<kind>/...
    return (
        template.replace("{slug}", slug)
        .replace("{project_slug}", "genomics")
        .replace("{username}", "bob")
        .replace("{id}", str(objects.get(kind, objects["request"]).pk))
    )


def state() -> tuple:
    """What a write could change: counts of every kind of object, and the quota's values."""
    return (
        Project.objects.count(),
        list(Project.objects.order_by("pk").values_list("status", flat=True)),
        list(Membership.objects.order_by("pk").values_list("role", flat=True)),
        Job.objects.count(),
        QuotaRequest.objects.filter(status="pending").count(),
        Quota.objects.get(project__slug="genomics").limits(),
        AuditEvent.objects.count(),
    )


def send(client, method: str, path: str, body: bytes):
    return client.generic(method.upper(), path, body, content_type="application/json")


def assert_json_error(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"] == "application/json", response["Content-Type"]
    data = response.json()
    assert isinstance(data, dict) and data
    return data


@pytest.mark.parametrize(("method", "path"), WRITES)
@pytest.mark.parametrize("depth", [100_000, 1_000, 40])
def test_deeply_nested_bodies_are_400(api, objects, method, path, depth):
    client = api("root")  # its token is made (and audited) before the count
    before = state()
    for body in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
        response = send(client, method, address(path, objects), body.encode())
        assert "nested too deeply" in assert_json_error(response, 400)["detail"]
    assert state() == before


def test_ordinary_nesting_is_still_read(api, personas):
    """The depth limit leaves real requests alone: a quota request's values are two levels down."""
    response = api("alice").post(
        "/api/v1/projects/genomics/quota/requests/", {"values": {"max_gpus": 4}, "reason": "thesis"}
    )
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_oversized_bodies_are_a_json_413(api, objects, method, path):
    client = api("root")  # its token is made (and audited) before the count
    before = state()
    body = json.dumps({"reason": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)}).encode()
    response = send(client, method, address(path, objects), body)
    assert "too large" in assert_json_error(response, 413)["detail"]
    assert state() == before


WRONG_BODIES = ["[]", "[1, 2]", '"text"', "17", "true", "null", "{", '{"a": 1,}', "\x00"]


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_bodies_that_are_not_an_object_are_400(api, objects, method, path):
    client = api("root")  # its token is made (and audited) before the count
    before = state()
    for body in WRONG_BODIES:
        response = send(client, method, address(path, objects), body.encode())
        assert_json_error(response, 400)
    assert state() == before


# A value of every JSON type; each field gets those its schema does not allow.
VALUES = {
    "string": "text",
    "integer": 3,
    "number": 2.5,
    "boolean": True,
    "array": ["a"],
    "object": {"a": "b"},
    "null": None,
}


def request_fields(method: str, path: str) -> dict[str, set[str]]:
    """The request body's fields and the JSON types each accepts, from the schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    media = schema["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    body = components[media["$ref"].rsplit("/", 1)[1]]

    def types(field: dict) -> set[str]:
        if "$ref" in field:
            field = components[field["$ref"].rsplit("/", 1)[1]]
        for key in ("oneOf", "anyOf", "allOf"):
            if key in field:
                return set().union(*(types(part) for part in field[key]))
        if "enum" in field and "type" not in field:
            return {"string"}
        kinds = {field.get("type", "string")}
        if field.get("format") == "decimal":
            kinds |= {"integer", "number"}  # a decimal is written as a string or a number
        if field.get("nullable"):
            kinds.add("null")
        return kinds

    return {name: types(field) for name, field in body.get("properties", {}).items()}


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_fields_of_the_wrong_type_are_400_on_that_field(api, objects, method, path):
    client = api("root")  # its token is made (and audited) before the count
    before = state()
    for field, allowed in request_fields(method, path).items():
        for kind, value in VALUES.items():
            if kind in allowed or (kind == "integer" and "number" in allowed):
                continue
            response = send(client, method, address(path, objects), json.dumps({field: value}).encode())
            errors = assert_json_error(response, 400)
            assert field in errors, (field, kind, errors)
    assert state() == before
