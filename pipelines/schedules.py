"""Schedules: a project's pipeline, or a single job, started on a cron expression in a chosen
time zone. A single job's schedule keeps a job spec (the jobs API's body without its project,
copied from a template or given as a job request); each time, it is checked again and submitted
with ``submit_job``, like any job, and the job carries the schedule (``Job.schedule``).

Celery beat runs ``tick`` every minute (``portal/settings.py``, ``CELERY_BEAT_SCHEDULE``): it
claims the due schedules in three queries whatever their number (the due rows, locked and skipped
by a concurrent tick; their next times in one update; their events in one insert) and sends each
a ``fire`` task, which starts the run as the schedule's author, through the same checks as any run
(the project active, the quota, the author still a member), and records a refusal instead of a run.

Times come from croniter in the schedule's zone: a time that does not exist on the day clocks
go forward runs at the first minute after the gap; a fixed time the day clocks go back (02:30,
twice) runs once. A portal that was down does not fire a burst: the times missed by more than
TALLER_SCHEDULE_GRACE_SECONDS are skipped (recorded), or run once (policy ``once``)."""

import zoneinfo
from datetime import datetime, timedelta

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterNotAlphaError, croniter
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from clusterjobs import actions as job_actions
from clusterjobs.models import JobTemplate
from clusterjobs.request import JobRequest
from portal.projects.access import Need, can
from portal.projects.actions import record as record_event

from . import actions, definition, queue
from .models import MissedPolicy, Pipeline, Schedule, ScheduleEvent

TICK_BATCH = 500
MISSED_COUNT_LIMIT = 1000
BAD_CRON = (CroniterBadCronError, CroniterBadDateError, CroniterNotAlphaError, ValueError, KeyError)


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        raise ValidationError(
            {"timezone": _("Unknown time zone “%(zone)s”, e.g. Europe/Madrid.") % {"zone": name}}
        ) from error


def _fixed_hour(cron: str) -> bool:
    return not cron.split()[1].startswith("*")


def times_after(cron: str, zone: str, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` times of ``cron`` in ``zone`` after ``after`` (aware, in UTC)."""
    local_zone = _zone(zone)
    it = croniter(cron, after.astimezone(local_zone))
    times: list[datetime] = []
    previous_wall = None
    while len(times) < count:
        moment = it.get_next(datetime)
        wall = moment.replace(tzinfo=None)
        if wall == previous_wall and _fixed_hour(cron):
            continue  # the same wall-clock time again (clocks went back): run a fixed time once
        previous_wall = wall
        times.append(moment.astimezone(zoneinfo.ZoneInfo("UTC")))
    return times


def check_cron(cron: str, zone: str) -> str:
    """The expression, if it parses and fires no more often than the site allows."""
    cron = " ".join(str(cron).split())
    _zone(zone)
    if len(cron.split()) != 5 or not croniter.is_valid(cron):
        raise ValidationError(
            {"cron": _("Not a cron expression of five fields, e.g. 0 2 * * * (every day at 02:00).")}
        )
    try:
        upcoming = times_after(cron, zone, timezone.now(), 50)
    except BAD_CRON as error:
        raise ValidationError({"cron": _("This cron expression never fires.")}) from error
    minimum = timedelta(minutes=settings.TALLER_SCHEDULE_MIN_INTERVAL_MINUTES)
    if any(b - a < minimum for a, b in zip(upcoming, upcoming[1:], strict=False)):
        raise ValidationError(
            {
                "cron": _("It fires more often than once every %(n)s minutes, the most this site allows.")
                % {"n": settings.TALLER_SCHEDULE_MIN_INTERVAL_MINUTES}
            }
        )
    return cron


def create_schedule(
    user, pipeline: Pipeline, cron: str, zone: str = "UTC", missed: str = MissedPolicy.SKIP
) -> Schedule:
    """A schedule of ``pipeline``; the caller has checked that ``user`` may run the project's pipelines."""
    return _create(user, pipeline.project, cron, zone, missed, pipeline=pipeline)


def create_job_schedule(
    user,
    project,
    spec: dict,
    cron: str,
    zone: str = "UTC",
    missed: str = MissedPolicy.SKIP,
    *,
    template: JobTemplate | None = None,
) -> Schedule:
    """A schedule of a single job: ``spec`` is the jobs API's body without its project, checked
    now as a submission would be (and again at each time). The caller has checked that ``user``
    may run the project's jobs."""
    if not isinstance(spec, dict) or not spec:
        raise ValidationError({"job": _("Give the job to schedule.")})
    spec = {key: value for key, value in spec.items() if key != "project"}
    try:
        definition.job_request(user, project, spec, {}, str(spec.get("experiment", "default")))
    except ValidationError as error:
        raise ValidationError(
            {"job": [f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items()]}
        ) from error
    return _create(user, project, cron, zone, missed, job_spec=spec, template=template)


def spec_of_template(template: JobTemplate) -> dict:
    """A template as a job body (what a job's schedule keeps): its request, named by its title."""
    return definition.body_of(JobRequest.from_model(template, name=template.title[:100]))


def _create(user, project, cron: str, zone: str, missed: str, **target) -> Schedule:
    if missed not in MissedPolicy.values:
        raise ValidationError({"missed": _("Choose skip or once.")})
    cron = check_cron(cron, zone)
    first = times_after(cron, zone, timezone.now(), 1)[0]
    with transaction.atomic():
        schedule = Schedule.objects.create(
            project=project, created_by=user, cron=cron, zone=zone, missed=missed, next_run_at=first, **target
        )
        _record(
            user, schedule, "schedule.create", f"{schedule.target_name()}: {cron} ({zone}), missed: {missed}"
        )
    return schedule


def _record(user, schedule: Schedule, verb: str, message: str = "") -> None:
    record_event(user, schedule.project, verb, message, target=f"schedule {schedule.pk}")


@transaction.atomic
def pause(user, schedule: Schedule) -> None:
    if Schedule.objects.filter(pk=schedule.pk, paused=False).update(paused=True):
        _record(user, schedule, "schedule.pause", schedule.cron)


@transaction.atomic
def resume(user, schedule: Schedule, now: datetime | None = None) -> None:
    """Resume from now on: the times that passed while paused are not missed times."""
    now = now or timezone.now()
    upcoming = times_after(schedule.cron, schedule.zone, now, 1)[0]
    if Schedule.objects.filter(pk=schedule.pk).update(paused=False, next_run_at=upcoming):
        _record(user, schedule, "schedule.resume", schedule.cron)


@transaction.atomic
def delete_schedule(user, schedule: Schedule) -> None:
    _record(user, schedule, "schedule.delete", schedule.cron)
    schedule.delete()


def tick(now: datetime | None = None) -> list[tuple[int, str]]:
    """Claim the due schedules and send their runs; returns what was sent (id, due time)."""
    now = now or timezone.now()
    grace = timedelta(seconds=settings.TALLER_SCHEDULE_GRACE_SECONDS)
    with transaction.atomic():
        due = list(
            Schedule.objects.select_for_update(skip_locked=True)
            .filter(paused=False, next_run_at__lte=now, project__status="active")
            .order_by("next_run_at")[:TICK_BATCH]
        )
        events, fire = [], []
        for schedule in due:
            due_at = schedule.next_run_at
            later = times_after(schedule.cron, schedule.zone, now, 1)[0]
            if now - due_at > grace:
                missed = _count(schedule, due_at, now)
                if schedule.missed == MissedPolicy.SKIP:
                    message = gettext_noop("%(n)s time(s) missed while the portal was down; skipped") % {
                        "n": missed
                    }
                    events.append(
                        ScheduleEvent(
                            schedule=schedule, due_at=due_at, at=now, outcome="missed", message=message
                        )
                    )
                    schedule.next_run_at = later
                    continue
            fire.append((schedule.pk, due_at.isoformat()))
            schedule.next_run_at = later
        Schedule.objects.bulk_update(due, ["next_run_at"])
        ScheduleEvent.objects.bulk_create(events)
        transaction.on_commit(lambda: [queue.send_fire_schedule(pk, at) for pk, at in fire])
    return fire


def _count(schedule: Schedule, since: datetime, now: datetime) -> int:
    it = croniter(schedule.cron, since.astimezone(_zone(schedule.zone)))
    count = 1
    while count < MISSED_COUNT_LIMIT and it.get_next(datetime) <= now:
        count += 1
    return count


def fire(schedule_id: int, due_at: str) -> ScheduleEvent | None:
    """Start the schedule's run (or job), or record why it could not start."""
    schedule = (
        Schedule.objects.select_related("project", "pipeline", "created_by").filter(pk=schedule_id).first()
    )
    if schedule is None:
        return None
    due = datetime.fromisoformat(due_at)
    record = {"schedule": schedule, "due_at": due}
    if not can(schedule.created_by, schedule.project, Need.CHANGE):
        message = (
            gettext_noop("%(user)s may no longer run the project's jobs")
            if schedule.runs_a_job()
            else gettext_noop("%(user)s may no longer run the project's pipelines")
        ) % {"user": schedule.created_by.username}
        return ScheduleEvent.objects.create(**record, outcome="refused", message=message)
    try:
        if schedule.runs_a_job():
            return ScheduleEvent.objects.create(**record, outcome="started", job=_submit(schedule))
        run = actions.start_pipeline(
            schedule.created_by, schedule.project, dict(schedule.pipeline.definition), schedule=schedule
        )
    except ValidationError as error:
        message = "; ".join(" ".join(m) for m in error.message_dict.values())
        return ScheduleEvent.objects.create(**record, outcome="refused", message=message)
    return ScheduleEvent.objects.create(**record, outcome="started", run=run)


def _submit(schedule: Schedule):
    """The scheduled job, checked against today's limits and quota and submitted as any job."""
    spec = schedule.job_spec
    user, project = schedule.created_by, schedule.project
    request = definition.job_request(user, project, spec, {}, str(spec.get("experiment", "default")))
    return job_actions.submit_job(user, project, request, schedule_id=schedule.pk)
