"""Schedules with a controlled clock: the next times across daylight saving changes, a tick
that fires what is due once, missed times after downtime (skipped, or run once), pause and
resume, an archived project, refusals recorded instead of runs, and a bounded tick."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pipelines import actions, schedules
from pipelines.models import Pipeline, PipelineRun, Schedule, ScheduleEvent
from portal.projects.models import Membership

pytestmark = pytest.mark.django_db
DEFINITION = {"name": "nightly", "steps": [{"name": "only", "command": ["true"], "resources": {"cpu": "1"}}]}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def pipeline(personas) -> Pipeline:
    return actions.define_pipeline(personas.bob, personas.project, DEFINITION)[0]


def make(
    personas, pipeline, cron="30 2 * * *", zone="Europe/Madrid", missed="skip", next_run_at=None
) -> Schedule:
    schedule = schedules.create_schedule(personas.bob, pipeline, cron, zone, missed)
    if next_run_at:
        Schedule.objects.filter(pk=schedule.pk).update(next_run_at=next_run_at)
        schedule.refresh_from_db()
    return schedule


def test_bad_expressions_zones_and_intervals_are_refused(personas, pipeline, settings):
    settings.TALLER_SCHEDULE_MIN_INTERVAL_MINUTES = 10
    for cron, field in [("every night", "cron"), ("61 * * * *", "cron"), ("*/5 * * * *", "cron")]:
        with pytest.raises(ValidationError) as caught:
            schedules.create_schedule(personas.bob, pipeline, cron)
        assert field in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        schedules.create_schedule(personas.bob, pipeline, "0 2 * * *", "Mars/Olympus")
    assert caught.value.message_dict == {
        "timezone": ["Unknown time zone “Mars/Olympus”, e.g. Europe/Madrid."]
    }
    assert "every 10 minutes" in str(
        pytest.raises(ValidationError, schedules.check_cron, "*/5 * * * *", "UTC").value
    )
    assert schedules.check_cron("*/10  * * * *", "UTC") == "*/10 * * * *"
    assert not Schedule.objects.exists()


def test_next_times_across_daylight_saving(personas):
    spring = schedules.times_after("30 2 * * *", "Europe/Madrid", at("2026-03-27T12:00"), 3)
    # 02:30 does not exist on 29 March in Madrid: that day it runs when the clocks reach 03:00.
    assert spring == [at("2026-03-28T01:30"), at("2026-03-29T01:00"), at("2026-03-30T00:30")]
    autumn = schedules.times_after("30 2 * * *", "Europe/Madrid", at("2026-10-23T12:00"), 3)
    # 02:30 happens twice on 25 October: a nightly run runs once.
    assert autumn == [at("2026-10-24T00:30"), at("2026-10-25T00:30"), at("2026-10-26T01:30")]
    hourly = schedules.times_after("0 * * * *", "Europe/Madrid", at("2026-10-24T23:30"), 4)
    # Every hour stays every hour, the repeated one included.
    assert hourly == [
        at("2026-10-25T00:00"),
        at("2026-10-25T01:00"),
        at("2026-10-25T02:00"),
        at("2026-10-25T03:00"),
    ]


def test_a_tick_fires_what_is_due_once(personas, pipeline):
    schedule = make(personas, pipeline, next_run_at=at("2026-06-01T00:30"))
    assert schedules.tick(at("2026-06-01T00:29")) == []
    fired = schedules.tick(at("2026-06-01T00:30:20"))
    assert fired == [(schedule.pk, "2026-06-01T00:30:00+00:00")]
    schedule.refresh_from_db()
    assert schedule.next_run_at == at("2026-06-02T00:30")
    assert schedules.tick(at("2026-06-01T00:31")) == []


@pytest.mark.parametrize(("missed", "fires"), [("skip", False), ("once", True)])
def test_missed_times_after_downtime(personas, pipeline, missed, fires):
    schedule = make(personas, pipeline, missed=missed, next_run_at=at("2026-06-01T00:30"))
    fired = schedules.tick(at("2026-06-04T01:00"))  # the portal was down for three days
    assert fired == ([(schedule.pk, "2026-06-01T00:30:00+00:00")] if fires else [])
    schedule.refresh_from_db()
    assert schedule.next_run_at == at("2026-06-05T00:30")
    events = list(ScheduleEvent.objects.filter(schedule=schedule))
    if not fires:
        assert [(e.outcome, e.message) for e in events] == [
            ("missed", "4 time(s) missed while the portal was down; skipped")
        ]


def test_paused_and_archived_schedules_do_not_fire(personas, pipeline):
    schedule = make(personas, pipeline, next_run_at=at("2026-06-01T00:30"))
    schedules.pause(schedule.created_by, schedule)
    assert schedules.tick(at("2026-06-01T00:31")) == []
    schedules.resume(schedule.created_by, schedule, now=at("2026-06-03T12:00"))
    schedule.refresh_from_db()
    assert not schedule.paused and schedule.next_run_at == at("2026-06-04T00:30")
    personas.project.status = personas.project.Status.ARCHIVED
    personas.project.save()
    assert schedules.tick(at("2026-06-04T00:31")) == []


def test_a_fired_run_is_marked_and_refusals_are_recorded(personas, pipeline, mlflow_uri):
    schedule = make(personas, pipeline)
    event = schedules.fire(schedule.pk, "2026-06-01T00:30:00+00:00")
    assert event.outcome == "started" and event.run.schedule_id == schedule.pk
    assert PipelineRun.objects.get().started_by == personas.bob

    personas.project.quota.max_cpu = Decimal("0.5")
    personas.project.quota.save()
    event = schedules.fire(schedule.pk, "2026-06-02T00:30:00+00:00")
    assert event.outcome == "refused" and "At most 0.5 CPU cores" in event.message
    Membership.objects.filter(project=personas.project, user=personas.bob).delete()
    event = schedules.fire(schedule.pk, "2026-06-03T00:30:00+00:00")
    assert (event.outcome, event.message) == ("refused", "bob may no longer run the project's pipelines")
    assert PipelineRun.objects.count() == 1


def _tick_queries(personas, pipeline, due: int) -> int:
    Schedule.objects.all().delete()
    Schedule.objects.bulk_create(
        Schedule(project=personas.project, pipeline=pipeline, created_by=personas.bob, cron="0 3 * * *",
                 next_run_at=at("2026-06-01T03:00") if i < due else at("2026-06-09T03:00"))
        for i in range(1000)
    )  # fmt: skip
    with CaptureQueriesContext(connection) as queries:
        fired = schedules.tick(at("2026-06-01T03:00:30"))
    assert len(fired) == due
    return len(queries)


def test_a_tick_of_1000_schedules_runs_a_bounded_number_of_queries(personas, pipeline):
    assert _tick_queries(personas, pipeline, 5) == _tick_queries(personas, pipeline, 400)


def test_beat_runs_the_tick_and_the_repair():
    from django.conf import settings

    from portal.celery import app

    beat = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"pipelines.tasks.tick_schedules", "pipelines.tasks.advance_pipelines"} <= beat
    assert {"pipelines.tasks.tick_schedules", "pipelines.tasks.advance_pipelines"} <= set(app.tasks)
