"""The schedules page for each persona: the next five times and the latest events shown, a
schedule made from the form (a bad expression stays on it), pause, resume, delete."""

import pytest

from pipelines import actions, schedules
from pipelines.models import Schedule, ScheduleEvent

pytestmark = pytest.mark.django_db
DEFINITION = {"name": "nightly", "steps": [{"name": "only", "command": ["true"]}]}


@pytest.fixture
def schedule(personas) -> Schedule:
    pipeline = actions.define_pipeline(personas.bob, personas.project, DEFINITION)[0]
    schedule = schedules.create_schedule(personas.bob, pipeline, "0 2 * * *", "Europe/Madrid")
    ScheduleEvent.objects.create(
        schedule=schedule, due_at=schedule.next_run_at, outcome="refused", message="At most 1 GPU"
    )
    return schedule


@pytest.mark.parametrize(("who", "status"), [("alice", 200), ("vera", 200), ("root", 200), ("charlie", 404)])
def test_the_page_by_persona(personas, schedule, who, status):
    response = personas.client(who).get("/projects/genomics/schedules/")
    assert response.status_code == status
    if status == 200:
        html = response.content.decode()
        row = html[html.index(f'id="schedule-{schedule.pk}"') :]
        assert row.count("<li>", 0, row.index("</ul>")) == 5  # the next five times
        assert "At most 1 GPU" in html and "refused" in html
        assert ('id="schedule-form"' in html) == (who != "vera")


def test_make_pause_resume_and_delete(personas, schedule):
    client = personas.client("bob")
    bad = client.post(
        "/projects/genomics/schedules/",
        {"pipeline": schedule.pipeline_id, "cron": "* * * * *", "timezone": "UTC", "missed": "skip"},
    )
    assert bad.status_code == 200 and "more often than once every 10 minutes" in bad.content.decode()
    good = client.post(
        "/projects/genomics/schedules/",
        {"pipeline": schedule.pipeline_id, "cron": "0 3 * * 1", "timezone": "UTC", "missed": "once"},
    )
    assert good.status_code == 302 and Schedule.objects.filter(cron="0 3 * * 1", missed="once").exists()
    assert client.post(f"/schedules/{schedule.pk}/pause/").status_code == 302
    assert Schedule.objects.get(pk=schedule.pk).paused
    client.post(f"/schedules/{schedule.pk}/resume/")
    assert not Schedule.objects.get(pk=schedule.pk).paused
    client.post(f"/schedules/{schedule.pk}/delete/")
    assert not Schedule.objects.filter(pk=schedule.pk).exists()


@pytest.mark.parametrize(("who", "status"), [("vera", 403), ("charlie", 404)])
def test_others_cannot_change(personas, schedule, who, status):
    client = personas.client(who)
    for verb in ("pause", "delete"):
        assert client.post(f"/schedules/{schedule.pk}/{verb}/").status_code == status
    form = {"pipeline": schedule.pipeline_id, "cron": "0 3 * * *", "timezone": "UTC", "missed": "skip"}
    assert client.post("/projects/genomics/schedules/", form).status_code == status
    assert Schedule.objects.get() == schedule and not schedule.paused
