"""The audit log over the API: who reads which events (every persona, tokens scoped to a
project), the filters, the CSV export, and the same queries however long the log."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal.projects import audit
from portal.projects.actions import record
from portal.projects.models import AuditEvent, Membership, Project
from tests.factories import ProjectFactory
from tests.projects.audit_data import make_events

pytestmark = pytest.mark.django_db

PERSONAS = ["alice", "bob", "vera", "charlie", "root"]


@pytest.fixture
def events(personas):
    return make_events(personas)


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


API_PROJECT = {None: 401, "charlie": 404, "vera": 403, "bob": 403, "alice": 200, "root": 200}
API_SITE = {None: 401, "charlie": 403, "vera": 403, "bob": 403, "alice": 403, "root": 200}


@pytest.mark.parametrize("who", [None, *PERSONAS])
@pytest.mark.parametrize("suffix", ["", "export.csv"])
def test_project_audit_api_is_for_owners_and_site_admins(api, events, who, suffix):
    answer = api(who).get(f"/api/v1/projects/genomics/audit/{suffix}")
    assert answer.status_code == API_PROJECT[who], answer.content
    if answer.status_code == 200 and not suffix:
        rows = answer.json()["results"]
        assert [r["action"] for r in rows][:3] == ["webhook.create", "job.cancel", "job.submit"]
        assert {r["project"] for r in rows} == {"genomics"}


@pytest.mark.parametrize("who", [None, *PERSONAS])
@pytest.mark.parametrize("suffix", ["", "export.csv"])
def test_site_audit_api_is_for_site_admins(api, events, who, suffix):
    answer = api(who).get(f"/api/v1/audit/{suffix}")
    assert answer.status_code == API_SITE[who], answer.content


def test_a_token_scoped_to_another_project_reads_no_audit_log(api, personas, events):
    other = Project.objects.get(slug="physics")
    Membership.objects.create(project=other, user=personas.alice, role="owner")
    scoped = api("alice", scope=other)
    assert scoped.get("/api/v1/projects/genomics/audit/").status_code == 404
    assert scoped.get("/api/v1/projects/physics/audit/").status_code == 200
    assert api("root", scope=other).get("/api/v1/audit/").status_code == 403


def test_the_log_has_no_write_endpoint(api, events):
    owner = api("root")
    for method in ("post", "put", "patch", "delete"):
        assert getattr(owner, method)("/api/v1/projects/genomics/audit/").status_code == 405
        assert getattr(owner, method)("/api/v1/audit/").status_code == 405
    assert AuditEvent.objects.count() == len(events) + 1  # the token's creation


def test_filters_by_actor_kind_action_target_and_dates(api, personas, events):
    owner = api("alice")

    def actions(**params) -> list[str]:
        answer = owner.get("/api/v1/projects/genomics/audit/", params)
        assert answer.status_code == 200, answer.content
        return [(r["action"], r["target"]) for r in answer.json()["results"]]

    assert actions(actor="BOB") == [("job.cancel", "job 41"), ("job.submit", "job 41")]
    assert actions(kind="webhook") == [("webhook.create", "webhook 3")]
    assert actions(action="job.submit") == [("job.submit", "job 41")]
    assert actions(target="JOB 4") == [("job.cancel", "job 41"), ("job.submit", "job 41")]
    today = events[0].at.date()
    assert len(actions(since=today.isoformat(), until=today.isoformat())) == 3  # a date: its whole day
    assert actions(since=(today + timedelta(days=1)).isoformat()) == []
    assert actions(until=events[0].at.isoformat()) == []
    bad = owner.get("/api/v1/projects/genomics/audit/", {"since": "yesterday", "kind": "weather"})
    assert bad.status_code == 400 and set(bad.json()) >= {"since", "kind"}


def test_site_wide_filters_by_project(api, events):
    answer = api("root").get("/api/v1/audit/", {"project": "physics"}).json()["results"]
    assert [r["message"] for r in answer] == ["secret-physics-job"]


def test_api_csv_answers_the_file_whatever_the_accept_header(api, events):
    answer = api("alice").get("/api/v1/projects/genomics/audit/export.csv", HTTP_ACCEPT="application/json")
    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/csv")
    body = b"".join(answer.streaming_content).decode()
    assert body.splitlines()[0] == ",".join(audit.CSV_HEADER) and "webhook.create" in body
    bad = api("alice").get("/api/v1/projects/genomics/audit/export.csv", {"kind": "weather"})
    assert bad.status_code == 400 and "kind" in bad.json()


def test_pages_and_api_run_the_same_queries_for_few_and_many_events(api, personas):
    client, token = personas.client("root"), api("root")
    urls = ["/projects/genomics/audit/", "/audit/", "/api/v1/projects/genomics/audit/", "/api/v1/audit/"]
    record(personas.bob, personas.project, "job.submit", target="job 1")
    _queries(token, "/api/v1/audit/")  # the token's first use is recorded once (last_used_at)
    few = {url: _queries(client if "api" not in url else token, url) for url in urls}
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(project=ProjectFactory(), actor_name="bob", verb="job.submit", kind="job")
            for _ in range(3)
        ]
        + [
            AuditEvent(project=personas.project, actor_name="bob", verb="job.submit", kind="job")
            for _ in range(120)
        ]
    )
    many = {url: _queries(client if "api" not in url else token, url) for url in urls}
    assert many == few
