"""The projects and members API: the personas matrix on every endpoint, and the rules of the pages."""

import zoneinfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework import serializers

from portal.projects.api.views import ProjectSerializer, with_caller_role
from portal.projects.models import AuditEvent, Membership, Project, Role
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

PERSONAS = ["charlie", "vera", "bob", "alice", "root"]
READ = {None: 401, "charlie": 404, "vera": 200, "bob": 200, "alice": 200, "root": 200}
MANAGE = {None: 401, "charlie": 404, "vera": 403, "bob": 403, "alice": 200, "root": 200}
ADMIN = {None: 401, "charlie": 404, "vera": 403, "bob": 403, "alice": 403, "root": 200}
URL = "/api/v1/projects/"


@pytest.fixture
def pending(personas):
    Project.objects.filter(pk=personas.project.pk).update(status=Project.Status.PENDING)
    return personas.project


@pytest.mark.parametrize("who", [None, *PERSONAS])
def test_list_shows_only_visible_projects(api, personas, who):
    other = ProjectFactory(slug="other")
    response = api(who).get(URL)
    if who is None:
        assert response.status_code == 401
        assert response.json() == {"detail": "Authentication credentials were not provided."}
        assert response["WWW-Authenticate"] == "Token"
        return
    assert response.status_code == 200
    slugs = [p["slug"] for p in response.json()["results"]]
    expected = {"charlie": [], "root": ["genomics", "other"]}.get(who, ["genomics"])
    assert slugs == expected
    assert response.json()["count"] == len(expected)
    assert other.slug not in slugs or who == "root"


def test_list_reports_the_callers_role_and_filters_by_status(api, personas):
    ProjectFactory(slug="old", status=Project.Status.ARCHIVED)
    rows = api("vera").get(URL).json()["results"]
    assert rows[0]["role"] == "viewer"
    assert rows[0]["requested_by"] == "alice"
    rows = {p["slug"]: p["role"] for p in api("root").get(URL).json()["results"]}
    assert rows == {"genomics": None, "old": None}
    archived = api("root").get(URL, {"status": "archived"}).json()["results"]
    assert [p["slug"] for p in archived] == ["old"]
    bad = api("root").get(URL, {"status": "sleeping"})
    assert bad.status_code == 400
    assert "status" in bad.json()


def test_a_listed_project_is_shown_as_the_declared_fields_show_it(personas):
    """The list builds its rows directly (for speed); DRF's field-by-field loop gives the same."""
    ProjectFactory(slug="decided", status=Project.Status.ACTIVE, decided_at=timezone.now())
    ProjectFactory(slug="rejected", status=Project.Status.REJECTED, decision_reason="Out of scope.")
    for who in (personas.vera, personas.root):
        projects = with_caller_role(Project.objects.all(), who).order_by("slug")
        for zone in (None, "America/Santiago"):
            with timezone.override(zone and zoneinfo.ZoneInfo(zone)):
                for project in projects:
                    serializer = ProjectSerializer(project)
                    assert serializer.data == serializers.ModelSerializer.to_representation(
                        serializer, project
                    )
                    assert list(serializer.data) == list(serializer.fields)


def test_list_runs_the_same_queries_for_any_page_size(api, personas):
    client = api("root")
    client.get(URL)  # the token's first use records last_used_at once

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(URL).status_code == 200
        return len(queries)

    few = count()
    for i in range(30):
        project = ProjectFactory(slug=f"bulk-{i}")
        MembershipFactory(project=project, user=personas.root, role=Role.OWNER)
    assert count() == few


def test_list_is_paged_by_50(api, personas):
    for i in range(55):
        MembershipFactory(project=ProjectFactory(slug=f"p-{i:02d}"), user=personas.bob)
    first = api("bob").get(URL).json()
    assert first["count"] == 56
    assert len(first["results"]) == 50
    second = api("bob").get(first["next"]).json()
    assert len(second["results"]) == 6
    assert api("bob").get(URL, {"page": 9}).status_code == 404


@pytest.mark.parametrize("who", [None, *PERSONAS])
def test_detail(api, personas, who):
    response = api(who).get(f"{URL}genomics/")
    assert response.status_code == READ[who]
    if response.status_code == 200:
        body = response.json()
        assert body["slug"] == "genomics"
        assert body["status"] == "active"
        assert body["role"] == {"vera": "viewer", "bob": "member", "alice": "owner", "root": None}[who]
    else:
        assert "detail" in response.json()


def test_detail_of_a_missing_project_is_404(api, personas):
    response = api("root").get(f"{URL}nothing-here/")
    assert response.status_code == 404
    assert response.json() == {"detail": "No such project."}


def test_register_creates_a_pending_project_owned_by_the_caller(api, personas):
    response = api("charlie").post(
        URL, {"slug": "climate", "name": "Climate", "principal_investigator": "Dr. C"}
    )
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "pending"
    assert response.json()["role"] == "owner"
    project = Project.objects.get(slug="climate")
    assert project.memberships.get().user == personas.charlie
    assert hasattr(project, "quota")


def test_register_anonymous_is_401(api, personas):
    response = api(None).post(URL, {"slug": "climate", "name": "C", "principal_investigator": "P"})
    assert response.status_code == 401
    assert not Project.objects.filter(slug="climate").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"slug": "genomics", "name": "Again", "principal_investigator": "P"}, "slug"),
        ({"slug": "Bad Slug!", "name": "X", "principal_investigator": "P"}, "slug"),
        ({"slug": "ok", "principal_investigator": "P"}, "name"),
        ({"slug": "ok", "name": ["a list"], "principal_investigator": "P"}, "name"),
        ({"slug": "ok", "name": "X", "principal_investigator": "P", "gpus": 4}, "gpus"),
        ({"slug": "ok", "name": "X", "principal_investigator": "P", "status": "active"}, "status"),
    ],
)
def test_register_bad_input_is_400_with_the_field(api, personas, body, field):
    response = api("bob").post(URL, body)
    assert response.status_code == 400
    assert field in response.json()
    assert isinstance(response.json()[field][0], str)
    assert not Project.objects.filter(slug="ok").exists()


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ('{"slug": "ok",', "detail"),
        ("[1, 2]", "non_field_errors"),
        ("null", "non_field_errors"),
        ('"text"', "non_field_errors"),
    ],
)
def test_register_malformed_json_is_400(api, personas, raw, key):
    response = api("bob").generic("POST", URL, raw, content_type="application/json")
    assert response.status_code == 400
    assert key in response.json()


def test_form_encoded_body_is_415(api, personas):
    response = api("bob").post(URL, "slug=ok", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert "detail" in response.json()


@pytest.mark.parametrize("who", [None, *PERSONAS])
@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_decide_is_for_site_admins(api, pending, who, decision):
    response = api(who).post(f"{URL}genomics/{decision}/", {"reason": "Budget"})
    assert response.status_code == ADMIN[who]
    pending.refresh_from_db()
    if who == "root":
        assert response.json()["status"] == {"approve": "active", "reject": "rejected"}[decision]
        assert pending.decision_reason == "Budget"
        assert AuditEvent.objects.filter(
            project=pending, verb={"approve": "approved", "reject": "rejected"}[decision]
        ).exists()
    else:
        assert pending.status == Project.Status.PENDING


def test_reject_needs_a_reason_and_only_pending_projects_are_decided(api, pending):
    root = api("root")
    response = root.post(f"{URL}genomics/reject/", {})
    assert response.status_code == 400
    assert "reason" in response.json()
    response = root.post(f"{URL}genomics/reject/", {"reason": "   "})
    assert response.status_code == 400
    assert "reason" in response.json()
    assert root.post(f"{URL}genomics/approve/", {}).status_code == 200
    again = root.post(f"{URL}genomics/approve/", {})
    assert again.status_code == 400
    assert again.json() == {"non_field_errors": ["Only a pending project can be approved or rejected."]}


@pytest.mark.parametrize("who", [None, *PERSONAS])
def test_members_list(api, personas, who):
    response = api(who).get(f"{URL}genomics/members/")
    assert response.status_code == READ[who]
    if response.status_code == 200:
        rows = response.json()["results"]
        assert [(m["username"], m["role"]) for m in rows] == [
            ("alice", "owner"),
            ("bob", "member"),
            ("vera", "viewer"),
        ]


@pytest.mark.parametrize("who", [None, *PERSONAS])
def test_member_detail(api, personas, who):
    response = api(who).get(f"{URL}genomics/members/bob/")
    assert response.status_code == READ[who]
    if response.status_code == 200:
        assert response.json()["role"] == "member"


def test_member_detail_of_a_non_member_is_404(api, personas):
    assert api("alice").get(f"{URL}genomics/members/charlie/").status_code == 404


@pytest.mark.parametrize("who", [None, *PERSONAS])
def test_add_member(api, personas, who):
    UserFactory(username="dave", email="dave@uni.example")
    response = api(who).post(f"{URL}genomics/members/", {"user": "DAVE@uni.example", "role": "viewer"})
    expected = {**MANAGE, "alice": 201, "root": 201}[who]
    assert response.status_code == expected
    added = Membership.objects.filter(project=personas.project, user__username="dave")
    if expected == 201:
        assert response.json()["username"] == "dave"
        assert added.get().role == Role.VIEWER
    else:
        assert not added.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user": "nobody", "role": "member"}, "user"),
        ({"user": "bob", "role": "member"}, "user"),
        ({"user": "charlie", "role": "boss"}, "role"),
        ({"role": "member"}, "user"),
        ({"user": "charlie", "role": "member", "admin": True}, "admin"),
    ],
)
def test_add_member_bad_input(api, personas, body, field):
    response = api("alice").post(f"{URL}genomics/members/", body)
    assert response.status_code == 400
    assert field in response.json()
    assert personas.project.memberships.count() == 3


@pytest.mark.parametrize("who", [None, *PERSONAS])
def test_change_role(api, personas, who):
    response = api(who).patch(f"{URL}genomics/members/bob/", {"role": "viewer"})
    assert response.status_code == MANAGE[who]
    role = Membership.objects.get(project=personas.project, user=personas.bob).role
    assert role == (Role.VIEWER if MANAGE[who] == 200 else Role.MEMBER)


@pytest.mark.parametrize("who", [None, *PERSONAS])
def test_remove_member(api, personas, who):
    response = api(who).delete(f"{URL}genomics/members/bob/")
    expected = {**MANAGE, "alice": 204, "root": 204}[who]
    assert response.status_code == expected
    still = Membership.objects.filter(project=personas.project, user=personas.bob).exists()
    assert still is (expected != 204)


def test_put_is_not_allowed(api, personas):
    response = api("alice").put(
        f"{URL}genomics/members/bob/", {"role": "viewer"}, content_type="application/json"
    )
    assert response.status_code == 405
    assert "detail" in response.json()


def test_the_last_owner_is_protected(api, personas):
    alice = api("alice")
    demote = alice.patch(f"{URL}genomics/members/alice/", {"role": "member"})
    assert demote.status_code == 400
    assert demote.json() == {"role": ["A project needs at least one owner."]}
    leave = alice.delete(f"{URL}genomics/members/alice/")
    assert leave.status_code == 400
    assert "user" in leave.json()
    assert alice.patch(f"{URL}genomics/members/bob/", {"role": "owner"}).status_code == 200
    assert alice.patch(f"{URL}genomics/members/alice/", {"role": "member"}).status_code == 200


def test_change_role_bad_input(api, personas):
    alice = api("alice")
    assert alice.patch(f"{URL}genomics/members/bob/", {"role": 3}).status_code == 400
    response = alice.patch(f"{URL}genomics/members/bob/", {"role": "viewer", "username": "eve"})
    assert response.status_code == 400
    assert response.json() == {"username": ["Unknown field: this API does not accept it."]}
    assert alice.patch(f"{URL}genomics/members/bob/", {}).status_code == 400


def test_a_job_token_reaches_no_project(api, personas):
    other = ProjectFactory(slug="other")
    MembershipFactory(project=other, user=personas.alice, role=Role.OWNER)
    scoped = api("alice", project=other)
    assert scoped.get(URL).status_code == 403
    for path in ("genomics/", "genomics/members/", "other/", "other/members/"):
        assert scoped.get(f"{URL}{path}").status_code == 403, path
    response = scoped.post(URL, {"slug": "sneaky", "name": "S", "principal_investigator": "P"})
    assert response.status_code == 403
    assert "MLflow tracking" in response.json()["detail"]


def test_session_authentication_works_too(personas):
    response = personas.client("bob").get(URL)
    assert response.status_code == 200
    assert response.json()["count"] == 1
