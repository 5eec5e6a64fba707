"""Telling users their job or pipeline run waits: each user may set, per project, a threshold
(``NotificationChoice.wait_longer_than``); a periodic task (``tick``) finds the jobs still queued or
pending admission past their submitter's threshold and queues one email (to the submitter) and a
call to each of the project's webhooks, through the same ``Delivery`` rows and retried task as the
other notifications. A job is told once: a ``WaitNotice`` row marks it. A pipeline step's job tells
its run instead, once per run whichever of its steps waits.

A tick takes the same few queries for ten waiting jobs as for a thousand (bench_pipelines): the
jobs past their threshold are one query, and everything they need is read and written in bulk."""

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Subquery
from django.utils import timezone

from clusterjobs.models import Job, JobStatus
from clusterjobs.sync import give_back_lease, take_lease

from . import queue
from .models import Delivery, NotificationChoice, StepRun, WaitNotice, Webhook

WAITING = (JobStatus.QUEUED, JobStatus.DISPATCHING, JobStatus.PENDING)
# Jobs told per tick at most; more wait for the next tick.
BATCH = 2000
LEASE = "notify-waits"
LEASE_SECONDS = 300


def overdue(now):
    """Jobs still waiting past their submitter's threshold in their project, not yet told, with
    that threshold (``threshold``)."""
    threshold = NotificationChoice.objects.filter(
        user=OuterRef("submitter_id"), project=OuterRef("project_id"), wait_longer_than__isnull=False
    ).values("wait_longer_than")[:1]
    return (
        Job.objects.filter(status__in=WAITING)
        .annotate(threshold=Subquery(threshold))
        .filter(threshold__isnull=False, created_at__lte=now - F("threshold"))
        .exclude(Exists(WaitNotice.objects.filter(job=OuterRef("pk"))))
        .select_related("project", "submitter")
        .order_by("created_at", "pk")
    )


def _minutes(threshold) -> int:
    return int(threshold.total_seconds() // 60)


def tick(now=None) -> list[int]:
    """Tell the users whose jobs or runs wait past their threshold; returns the deliveries queued."""
    now = now or timezone.now()
    until = take_lease(LEASE, LEASE_SECONDS)
    if until is None:  # another tick is under way: it tells the same jobs
        return []
    try:
        return _tell(now)
    finally:
        give_back_lease(LEASE, until)


def _tell(now) -> list[int]:
    with transaction.atomic():
        jobs = list(overdue(now)[:BATCH])
        if not jobs:
            return []
        steps = {
            step.job_id: step
            for step in StepRun.objects.filter(job__in=[job.pk for job in jobs]).select_related(
                "run__pipeline"
            )
        }
        runs_told = set(
            WaitNotice.objects.filter(run__in={s.run_id for s in steps.values()}, told=True).values_list(
                "run_id", flat=True
            )
        )
        notices, told = [], []
        for job in jobs:
            step = steps.get(job.pk)
            run_id = step.run_id if step else None
            first = run_id is None or run_id not in runs_told
            notices.append(WaitNotice(job=job, run_id=run_id, told=first, at=now))
            if first:
                told.append((job, step))
                if run_id is not None:
                    runs_told.add(run_id)
        WaitNotice.objects.bulk_create(notices)
        webhooks: dict[int, list[Webhook]] = {}
        for webhook in Webhook.objects.filter(
            project__in={job.project_id for job, _step in told}, only_failures=False
        ).order_by("pk"):
            webhooks.setdefault(webhook.project_id, []).append(webhook)
        rows = []
        for job, step in told:
            subject, payload = _message(job, step)
            if job.submitter.email:
                rows.append(Delivery(email=job.submitter.email, subject=subject, payload=payload))
            rows += [
                Delivery(webhook=webhook, subject=subject, payload=payload)
                for webhook in webhooks.get(job.project_id, [])
            ]
        created = Delivery.objects.bulk_create(rows)
        ids = [row.pk for row in created]
        transaction.on_commit(lambda: [queue.send_deliver(pk) for pk in ids])
    return ids


def _message(job: Job, step: StepRun | None) -> tuple[str, dict]:
    minutes = _minutes(job.threshold)
    common = {"project": job.project.slug, "status": job.status, "reason": job.status_reason,
              "waiting_longer_than_minutes": minutes}  # fmt: skip
    if step is None:
        subject = f"[{job.project.slug}] job {job.pk} {job.name}: waiting for more than {minutes} min"
        return subject, {"event": "job.waiting", "job": job.pk, "name": job.name,
                         "url": job.get_absolute_url(), **common}  # fmt: skip
    run = step.run
    subject = (
        f"[{job.project.slug}] pipeline {run.pipeline.name} run {run.pk}: step {step.name} "
        f"waiting for more than {minutes} min"
    )
    return subject, {"event": "pipeline_run.waiting", "pipeline_run": run.pk, "pipeline": run.pipeline.name,
                     "step": step.name, "job": job.pk, "url": run.get_absolute_url(), **common}  # fmt: skip
