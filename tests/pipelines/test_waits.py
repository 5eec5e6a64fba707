"""Waiting longer than a threshold: each user's own threshold per project, a job or pipeline run
told once (never again at the next tick), by email through Django's outbox and by the project's
webhooks, with a controlled clock; a tick's queries do not grow with the number of waiting jobs."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clusterjobs.models import Job, JobStatus
from pipelines import notify, waits
from pipelines.models import (
    Delivery,
    NotificationChoice,
    Pipeline,
    PipelineRun,
    StepRun,
    StepStatus,
    WaitNotice,
    Webhook,
)

pytestmark = pytest.mark.django_db
T0 = timezone.now().replace(microsecond=0)


def waiting_job(personas, user=None, status=JobStatus.QUEUED, name="train", at=T0) -> Job:
    return Job.objects.create(
        project=personas.project, submitter=user or personas.bob, name=name, image="python:3.11-slim",
        command=["true"], status=status, status_reason="waiting for quota: gpus", created_at=at,
    )  # fmt: skip


def choose(personas, user=None, minutes=30) -> NotificationChoice:
    return NotificationChoice.objects.create(
        user=user or personas.bob, project=personas.project, on_failure=False,
        wait_longer_than=timedelta(minutes=minutes),
    )  # fmt: skip


def webhook(personas, only_failures=False) -> Webhook:
    return Webhook.objects.create(
        project=personas.project, url="https://8.8.8.8/hook", created_by=personas.alice,
        only_failures=only_failures,
    )  # fmt: skip


def test_told_once_past_the_threshold_by_email_and_webhook(personas):
    job = waiting_job(personas)
    choose(personas)
    hook = webhook(personas)
    webhook(personas, only_failures=True)  # a wait is no failure: not called
    assert waits.tick(now=T0 + timedelta(minutes=29)) == []
    told = waits.tick(now=T0 + timedelta(minutes=31))
    rows = Delivery.objects.filter(pk__in=told)
    assert sorted((r.email, r.webhook_id) for r in rows) == [("", hook.pk), (personas.bob.email, None)]
    subject = f"[genomics] job {job.pk} train: waiting for more than 30 min"
    assert {r.subject for r in rows} == {subject}
    assert (
        rows[0].payload["event"] == "job.waiting" and rows[0].payload["reason"] == "waiting for quota: gpus"
    )
    assert waits.tick(now=T0 + timedelta(minutes=90)) == []  # never repeated at each tick
    email = Delivery.objects.get(pk__in=told, webhook=None)
    assert notify.deliver(email.pk) is None  # the same delivery machinery as any notification
    assert [m.subject for m in mail.outbox] == [subject] and mail.outbox[0].to == [personas.bob.email]


def test_each_user_their_own_threshold_and_only_waiting_jobs(personas):
    choose(personas, minutes=60)
    choose(personas, user=personas.alice, minutes=10)
    bobs = waiting_job(personas, name="bobs")
    alices = waiting_job(personas, user=personas.alice, status=JobStatus.PENDING, name="alices")
    waiting_job(personas, user=personas.alice, status=JobStatus.RUNNING, name="started")
    waiting_job(personas, user=personas.vera, name="no-choice")
    told = waits.tick(now=T0 + timedelta(minutes=20))
    assert [d.payload["name"] for d in Delivery.objects.filter(pk__in=told)] == ["alices"]
    told = waits.tick(now=T0 + timedelta(minutes=61))
    assert [d.payload["job"] for d in Delivery.objects.filter(pk__in=told)] == [bobs.pk]
    assert set(WaitNotice.objects.values_list("job_id", flat=True)) == {bobs.pk, alices.pk}


def test_a_threshold_in_another_project_does_not_apply(personas, django_user_model):
    from tests.factories import ProjectFactory

    other = ProjectFactory(slug="physics", requested_by=personas.alice)
    NotificationChoice.objects.create(user=personas.bob, project=other, wait_longer_than=timedelta(minutes=1))
    waiting_job(personas)
    assert waits.tick(now=T0 + timedelta(hours=5)) == []


def step_jobs(personas, count: int) -> tuple[PipelineRun, list[Job]]:
    pipeline = Pipeline.objects.create(
        project=personas.project, name="nightly", definition={}, created_by=personas.bob
    )
    run = PipelineRun.objects.create(
        pipeline=pipeline, project=personas.project, started_by=personas.bob, definition={}
    )
    jobs = [waiting_job(personas, name=f"train-{i}") for i in range(count)]
    for i, job in enumerate(jobs):
        StepRun.objects.create(
            run=run, name=f"train-{i}", position=i, spec={}, status=StepStatus.SUBMITTED, job=job
        )
    return run, jobs


def test_a_pipeline_run_is_told_once_whichever_steps_wait(personas):
    choose(personas)
    run, jobs = step_jobs(personas, 3)
    told = waits.tick(now=T0 + timedelta(minutes=31))
    (delivery,) = Delivery.objects.filter(pk__in=told)
    assert delivery.subject == (
        f"[genomics] pipeline nightly run {run.pk}: step train-0 waiting for more than 30 min"
    )
    assert delivery.payload["event"] == "pipeline_run.waiting" and delivery.payload["pipeline_run"] == run.pk
    later = waiting_job(personas, name="late")  # another step of the same run, later
    StepRun.objects.create(run=run, name="late", position=9, spec={}, status=StepStatus.SUBMITTED, job=later)
    assert waits.tick(now=T0 + timedelta(minutes=45)) == []
    assert WaitNotice.objects.filter(run=run).count() == 4


def test_a_tick_takes_the_same_queries_for_few_and_many_waiting_jobs(personas):
    choose(personas)
    webhook(personas)

    def counted(count: int, at) -> int:
        Job.objects.bulk_create(
            Job(project=personas.project, submitter=personas.bob, name=f"j{i}", image="python:3.11-slim",
                command=["true"], status=JobStatus.QUEUED, created_at=at)
            for i in range(count)
        )  # fmt: skip
        step_jobs(personas, 2)
        with CaptureQueriesContext(connection) as queries:
            told = waits.tick(now=at + timedelta(minutes=31))
        assert len(told) == 2 * (count + 1)
        return len(queries)

    few = counted(5, T0)
    Pipeline.objects.all().update(name="other")
    assert counted(200, T0 + timedelta(hours=1)) == few
