"""Times that tell the truth: one date and time format with its zone, in the reader's own time zone
(chosen on their profile, else the site's), and durations on the job pages."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from clusterjobs.models import JobStatus
from portal.times import duration, when
from tests.clusterjobs.factories import JobFactory

NOON = datetime(2026, 11, 30, 12, 0, 5, tzinfo=UTC)


def test_when_shows_the_zone_in_one_format():
    assert when(NOON) == '<time datetime="2026-11-30T12:00:05+00:00">2026-11-30 12:00 UTC</time>'
    assert "2026-11-30 12:00:05 UTC" in when(NOON, "seconds")
    with timezone.override("Europe/Madrid"):
        assert ">2026-11-30 13:00 CET</time>" in when(NOON)
    assert when(None) == "—"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "—"),
        (timedelta(seconds=42), "42 s"),
        (timedelta(minutes=5, seconds=3), "5 min 3 s"),
        (timedelta(hours=2, minutes=5, seconds=59), "2 h 5 min"),
        (timedelta(days=3, hours=4), "3 d 4 h"),
        (303, "5 min 3 s"),
        (timedelta(seconds=-3), "0 s"),
    ],
)
def test_duration(value, shown):
    assert duration(value) == shown


@pytest.mark.django_db
def test_the_job_page_shows_times_in_the_readers_zone_with_durations(personas):
    job = JobFactory(
        project=personas.project,
        status=JobStatus.SUCCEEDED,
        started_at=NOON + timedelta(minutes=5),
        finished_at=NOON + timedelta(hours=1, minutes=10),
    )
    # created_at is set on creation: put it where the test wants it
    type(job).objects.filter(pk=job.pk).update(created_at=NOON)
    client = personas.client("bob")
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert ">2026-11-30 12:00 UTC</time>" in page
    assert '<dd id="job-waited">5 min 0 s</dd>' in page and '<dd id="job-ran-for">1 h 5 min</dd>' in page
    rows = client.get("/projects/genomics/jobs/").content.decode()
    assert ">2026-11-30 12:00 UTC</time>" in rows and "<td>1 h 5 min</td>" in rows

    personas.bob.time_zone = "America/Santiago"
    personas.bob.save()
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert ">2026-11-30 09:00 -03</time>" in page
    # Another reader, the same job: the site's zone.
    assert ">2026-11-30 12:00 UTC</time>" in personas.client("alice").get(f"/jobs/{job.pk}/").content.decode()


@pytest.mark.django_db
def test_the_profile_sets_the_time_zone(personas):
    client = personas.client("bob")
    page = client.get("/accounts/profile/").content.decode()
    assert '<option value="" selected>The site&#x27;s (UTC)</option>' in page
    assert '<option value="Europe/Madrid">Europe/Madrid</option>' in page
    response = client.post("/accounts/profile/time-zone/", {"time_zone": "Europe/Madrid"})
    assert response.status_code == 302
    personas.bob.refresh_from_db()
    assert personas.bob.time_zone == "Europe/Madrid"
    page = client.get("/accounts/profile/").content.decode()
    assert '<option value="Europe/Madrid" selected>' in page
    assert "Times are now shown in Europe/Madrid." in page

    client.post("/accounts/profile/time-zone/", {"time_zone": "Mars/Olympus"})
    personas.bob.refresh_from_db()
    assert personas.bob.time_zone == "Europe/Madrid"
    client.post("/accounts/profile/time-zone/", {"time_zone": ""})
    personas.bob.refresh_from_db()
    assert personas.bob.time_zone == ""
    assert client.get("/accounts/profile/time-zone/").status_code == 405


@pytest.mark.django_db
def test_anonymous_cannot_set_a_time_zone(client):
    response = client.post("/accounts/profile/time-zone/", {"time_zone": "Europe/Madrid"})
    assert response.status_code == 302 and "/login/" in response["Location"]


# Every time a page shows goes through |when (or |duration). The one exception is a machine value:
# the yyyy-mm-dd an <input type="date"> needs as its value.
FORMATS_ITSELF = re.compile(r"\|\s*(date|time|naturaltime|naturalday|timesince|timeuntil)\b|\{%\s*now\b")
DATE_INPUT_VALUE = re.compile(r"""<input type="date"[^>]*value="\{\{ [\w.]+\|date:'Y-m-d' \}\}"[^>]*>""")
# Python that formats a time for a page; the allowed ones are not shown to people.
STRFTIME = re.compile(r"\.strftime\(|\bnaturaltime\b|\bdate_format\(")
NOT_SHOWN = {"clusterjobs/dispatch.py"}  # the uid the backend object carries


def test_no_template_or_page_code_formats_a_time_itself():
    root = Path(settings.BASE_DIR)
    offenders = []
    for path in sorted((root / "templates").rglob("*.html")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if FORMATS_ITSELF.search(DATE_INPUT_VALUE.sub("", line)):
                offenders.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    for package in ("portal", "clusterjobs", "experiments", "monitoring"):
        for path in sorted((root / package).rglob("*.py")):
            name = str(path.relative_to(root))
            if "migrations" not in name and name not in NOT_SHOWN and STRFTIME.search(path.read_text()):
                offenders.append(name)
    assert offenders == []


@pytest.mark.django_db
def test_the_approval_and_the_quota_requests_show_their_times_with_the_zone(personas):
    from portal.quotas.models import QuotaRequest

    type(personas.project).objects.filter(pk=personas.project.pk).update(decided_at=NOON)
    QuotaRequest.objects.create(
        project=personas.project,
        requested_by=personas.alice,
        requested_at=NOON,
        values={"max_gpus": 8},
        reason="a bigger model",
        status=QuotaRequest.Status.DECLINED,
        decided_by=personas.root,
        decided_at=NOON + timedelta(days=1),
    )
    personas.alice.time_zone = "Europe/Madrid"
    personas.alice.save()
    client = personas.client("alice")
    page = client.get("/projects/genomics/").content.decode()
    assert (
        'approved this project on <time datetime="2026-11-30T12:00:05+00:00">2026-11-30 13:00 CET</time>'
        in page
    )
    quota = client.get("/projects/genomics/quota/").content.decode()
    assert '<td><time datetime="2026-11-30T12:00:05+00:00">2026-11-30 13:00 CET</time></td>' in quota
    assert ">2026-12-01 13:00 CET</time>" in quota  # decided
    # The site's zone for a reader who chose none.
    assert (
        ">2026-11-30 12:00 UTC</time>" in personas.client("bob").get("/projects/genomics/").content.decode()
    )
