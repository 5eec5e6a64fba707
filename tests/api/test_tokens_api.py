"""Tokens over the API (create with an expiry and a scope, list, show, revoke) and what a token
scoped to one project reaches: that project alone, in every part of the API."""

import datetime

import pytest
from django.utils import timezone

from portal.accounts.actions import create_token
from portal.accounts.models import ApiToken
from tests.factories import ProjectFactory
from tests.quotas.conftest import make_job

from .conftest import TokenClient

pytestmark = pytest.mark.django_db

PERSONAS = ["alice", "bob", "vera", "charlie", "root"]


@pytest.mark.parametrize("who", PERSONAS)
def test_everyone_creates_lists_and_revokes_their_own_tokens(api, personas, who):
    client = api(who)
    later = (timezone.now() + datetime.timedelta(days=7)).isoformat()
    response = client.post("/api/v1/tokens/", {"name": "laptop", "expires_at": later})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["key"].startswith("tlr_") and body["prefix"] == body["key"][:12]
    assert body["project"] is None and body["expired"] is False and body["expires_at"]

    listed = client.get("/api/v1/tokens/").json()
    assert listed["count"] == 2  # the client's own token and the new one
    assert all("key" not in item for item in listed["results"])
    assert client.get(f"/api/v1/tokens/{body['id']}/").json()["name"] == "laptop"

    new = TokenClient(body["key"])
    assert new.get("/api/v1/projects/").status_code == 200
    assert client.delete(f"/api/v1/tokens/{body['id']}/").status_code == 204
    assert new.get("/api/v1/projects/").status_code == 401
    assert client.get("/api/v1/tokens/").json()["count"] == 1


@pytest.mark.parametrize(
    "who,status", [("alice", 201), ("bob", 201), ("vera", 201), ("charlie", 400), ("root", 201)]
)
def test_a_token_is_scoped_only_to_a_project_its_owner_sees(api, personas, who, status):
    response = api(who).post("/api/v1/tokens/", {"name": "genomics only", "project": "genomics"})
    assert response.status_code == status, response.json()
    if status == 400:
        assert response.json() == {"project": ["No project you can see has the slug “genomics”."]}
    else:
        assert response.json()["project"] == "genomics"
        assert ApiToken.objects.get(pk=response.json()["id"]).workload is False


def test_nobody_sees_or_revokes_another_persons_token(api, personas):
    token, key = create_token(personas.alice, "alice's")
    for who in ("bob", "root"):
        client = api(who)
        assert client.get(f"/api/v1/tokens/{token.pk}/").status_code == 404
        assert client.delete(f"/api/v1/tokens/{token.pk}/").status_code == 404
    assert TokenClient(key).get("/api/v1/projects/").status_code == 200
    assert api(None).get("/api/v1/tokens/").status_code == 401


@pytest.mark.parametrize(
    "body,errors",
    [
        ({}, {"name": ["This field is required."]}),
        (
            {"name": "x", "expires_at": "2001-01-01T00:00:00Z"},
            {"expires_at": ["Choose a moment in the future."]},
        ),
        ({"name": "x", "expires_at": "soon"}, "expires_at"),
        ({"name": "x", "key": "tlr_mine"}, "key"),
        ({"name": 5}, "name"),
        (
            {"name": "x", "project": "no-such"},
            {"project": ["No project you can see has the slug “no-such”."]},
        ),
    ],
)
def test_bad_token_requests_are_400_with_a_message_per_field(api, personas, body, errors):
    response = api("bob").post("/api/v1/tokens/", body)
    assert response.status_code == 400
    if isinstance(errors, dict):
        assert response.json() == errors
    else:
        assert list(response.json()) == [errors]
    assert ApiToken.objects.count() == 1


def test_an_expired_token_is_refused_by_the_api(personas):
    _token, key = create_token(personas.bob, "old", expires_at=timezone.now() - datetime.timedelta(seconds=1))
    response = TokenClient(key).get("/api/v1/projects/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid, expired or revoked token."}


def test_listed_expired_tokens_say_so(api, personas):
    create_token(personas.bob, "old", expires_at=timezone.now() - datetime.timedelta(seconds=1))
    results = api("bob").get("/api/v1/tokens/").json()["results"]
    assert {item["name"]: item["expired"] for item in results} == {"old": True, "test": False}


def test_job_tokens_are_not_listed_among_a_persons_tokens(api, personas):
    create_token(personas.bob, "job 7", project=personas.project)
    names = [item["name"] for item in api("bob").get("/api/v1/tokens/").json()["results"]]
    assert names == ["test"]


@pytest.fixture
def scoped(personas):
    """root (a site admin, who sees everything) with a token scoped to genomics."""
    physics = ProjectFactory(slug="physics", name="Physics")
    make_job(personas.project, personas.bob)
    make_job(physics, personas.root)
    _token, key = create_token(personas.root, "genomics only", scope=personas.project)
    return TokenClient(key)


def test_a_scoped_token_reaches_its_project_alone(scoped, personas):
    projects = scoped.get("/api/v1/projects/").json()
    assert [p["slug"] for p in projects["results"]] == ["genomics"]
    assert scoped.get("/api/v1/projects/genomics/").status_code == 200
    assert scoped.get("/api/v1/projects/physics/").status_code == 404
    assert scoped.get("/api/v1/projects/physics/members/").status_code == 404
    assert scoped.get("/api/v1/projects/physics/quota/").status_code == 404
    jobs = scoped.get("/api/v1/jobs/").json()["results"]
    assert {job["project"] for job in jobs} == {"genomics"}
    assert scoped.get("/api/v1/projects/genomics/quota/").status_code == 200


def test_a_scoped_token_does_nothing_that_spans_projects(scoped):
    assert scoped.get("/api/v1/usage/").status_code == 403
    assert scoped.get("/api/v1/tokens/").status_code == 403
    assert scoped.post("/api/v1/tokens/", {"name": "wider"}).status_code == 403
    registered = scoped.post(
        "/api/v1/projects/", {"slug": "mine", "name": "Mine", "principal_investigator": "Dr. R"}
    )
    assert registered.status_code == 403
    assert not ApiToken.objects.filter(name="wider").exists()
