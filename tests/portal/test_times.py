"""Times that tell the truth: one date and time format with its zone, in the reader's own time zone
(chosen on their profile, else the site's), and durations on the job pages."""

from datetime import UTC, datetime, timedelta

import pytest
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
