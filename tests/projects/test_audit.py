"""The audit log's pages and CSV: who reads which events (every persona), the filters, the
streamed export, and that nobody can change or delete an event (the model, and PostgreSQL's trigger).
"""

import csv
import io
from datetime import UTC, datetime

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from portal.projects import audit
from portal.projects.actions import record
from portal.projects.models import AuditEvent
from tests.factories import UserFactory

from .audit_data import make_events

pytestmark = pytest.mark.django_db

PERSONAS = ["alice", "bob", "vera", "charlie", "root"]
NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
def events(personas):
    return make_events(personas)


# Permissions ------------------------------------------------------------------------------------

PROJECT_PAGE = {None: 302, "charlie": 404, "vera": 403, "bob": 403, "alice": 200, "root": 200}
SITE_PAGE = {None: 302, "charlie": 403, "vera": 403, "bob": 403, "alice": 403, "root": 200}


@pytest.mark.parametrize("who", [None, *PERSONAS])
@pytest.mark.parametrize("suffix", ["", "export.csv"])
def test_project_audit_page_and_csv_are_for_owners_and_site_admins(personas, events, who, suffix):
    answer = personas.client(who).get(f"/projects/genomics/audit/{suffix}")
    assert answer.status_code == PROJECT_PAGE[who]
    if answer.status_code == 200:
        body = b"".join(answer.streaming_content).decode() if suffix else answer.content.decode()
        assert "webhook.create" in body and "job 41" in body
        assert "secret-physics-job" not in body and "laptop" not in body


@pytest.mark.parametrize("who", [None, *PERSONAS])
@pytest.mark.parametrize("suffix", ["", "export.csv"])
def test_site_audit_page_and_csv_are_for_site_admins(personas, events, who, suffix):
    answer = personas.client(who).get(f"/audit/{suffix}")
    assert answer.status_code == SITE_PAGE[who]
    if answer.status_code == 200:
        body = b"".join(answer.streaming_content).decode() if suffix else answer.content.decode()
        assert "secret-physics-job" in body and "laptop" in body and "webhook.create" in body


# Filters ----------------------------------------------------------------------------------------


def test_the_page_filters_with_htmx_and_shows_times_with_their_zone(personas, events):
    client = personas.client("alice")
    page = client.get("/projects/genomics/audit/", {"kind": "job"}).content.decode()
    assert 'hx-get="/projects/genomics/audit/"' in page and 'id="audit-filters"' in page
    assert "job.cancel" in page and "webhook.create" not in page
    assert '<time datetime="' in page and " UTC</time>" in page
    fragment = client.get("/projects/genomics/audit/", {"actor": "alice"}, HTTP_HX_REQUEST="true")
    text = fragment.content.decode()
    assert text.lstrip().startswith('<div id="audit-results">') and "<html" not in text
    assert "webhook.create" in text and "job.cancel" not in text
    # The export link carries the filters.
    assert 'href="/projects/genomics/audit/export.csv?actor=alice"' in text
    bad = client.get("/projects/genomics/audit/", {"since": "soon"}).content.decode()
    assert "Enter a valid date/time." in bad and "No event matches." in bad


def test_the_page_is_in_spanish(personas, events):
    client = personas.client("alice")
    client.cookies["django_language"] = "es"
    page = client.get("/projects/genomics/audit/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Registro de auditoría" in page and "Exportar como CSV" in page


# CSV --------------------------------------------------------------------------------------------


def test_csv_is_filtered_streamed_and_safe_in_a_spreadsheet(personas, events):
    record(personas.bob, personas.project, "job.submit", '=HYPERLINK("http://evil")', target="job 42")
    answer = personas.client("alice").get("/projects/genomics/audit/export.csv", {"actor": "bob"})
    assert answer.status_code == 200 and answer.streaming
    assert answer["Content-Type"].startswith("text/csv")
    assert 'filename="taller-audit-genomics.csv"' in answer["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(answer.streaming_content).decode())))
    assert rows[0] == audit.CSV_HEADER
    assert [row[4] for row in rows[1:]] == ["job.submit", "job.cancel", "job.submit"]
    assert rows[1][6] == '\'=HYPERLINK("http://evil")'  # not a formula
    assert {row[2] for row in rows[1:]} == {"bob"}
    bad = personas.client("alice").get("/projects/genomics/audit/export.csv", {"until": "later"})
    assert bad.status_code == 400 and "until" in bad.content.decode()


def test_csv_reads_in_keyset_chunks_and_misses_no_event_with_equal_times(personas, monkeypatch):
    monkeypatch.setattr(audit, "CSV_CHUNK", 3)
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(project=personas.project, verb="job.submit", kind="job", target=f"job {n}", at=NOON)
            for n in range(8)
        ]
    )
    lines = audit.csv_lines(AuditEvent.objects.filter(project=personas.project))
    with CaptureQueriesContext(connection) as queries:
        rows = list(csv.reader(io.StringIO("".join(lines))))
    assert sorted(row[5] for row in rows[1:]) == sorted(f"job {n}" for n in range(8))
    assert len(queries) == 3  # 3 + 3 + 2 events


# Bounded queries --------------------------------------------------------------------------------


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


# Nobody edits or deletes it ---------------------------------------------------------------------


def test_the_model_refuses_to_change_or_delete_an_event(personas, events):
    event = events[0]
    event.message = "rewritten"
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        event.delete()
    with pytest.raises(TypeError):
        AuditEvent.objects.filter(pk=event.pk).update(message="rewritten")
    with pytest.raises(TypeError):
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).message == "train"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")
def test_postgresql_refuses_raw_updates_and_deletes(personas, events):
    for sql in (
        "UPDATE projects_auditevent SET message = 'rewritten'",
        "DELETE FROM projects_auditevent",
        "UPDATE projects_auditevent SET actor_id = NULL, message = 'rewritten'",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql)
    assert AuditEvent.objects.filter(message="rewritten").count() == 0


def test_a_deleted_user_leaves_their_name_on_their_events(personas):
    gone = UserFactory(username="gone")
    event = record(gone, personas.project, "job.submit", target="job 7")
    gone.delete()
    event = AuditEvent.objects.get(pk=event.pk)
    assert (event.actor_id, event.actor_name, event.verb) == (None, "gone", "job.submit")


def test_a_project_with_events_cannot_be_deleted(personas, events):
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        personas.project.delete()
    assert AuditEvent.objects.filter(project=personas.project).count() == 3


def test_a_rolled_back_change_leaves_no_event(personas):
    before = AuditEvent.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        record(personas.alice, personas.project, "job.submit", target="job 1")
        raise RuntimeError("the change failed after recording")
    assert AuditEvent.objects.count() == before
