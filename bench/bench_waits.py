"""Telling users their jobs wait past their threshold (``waits.tick``): one tick over 10 waiting
jobs against one over 1,000, each job past its submitter's threshold, with a webhook in the
project. The same SQL queries (ratio 1.0): the jobs are found in one query and what they need is
read and written in bulk (on PostgreSQL, as `make bench` runs; SQLite splits large bulk inserts
into batches). Each tick is rolled back (nothing is sent: no commit)."""

from datetime import timedelta

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clusterjobs.models import Job, JobStatus
from pipelines import waits
from pipelines.models import NotificationChoice, Webhook
from portal.accounts.models import User
from portal.projects.models import Project
from portal.quotas.actions import ensure_quota


def waiting(size: int):
    user = User.objects.create_user(username=f"bench-wait-{size}", email=f"wait{size}@bench.example")
    project = Project.objects.create(
        slug=f"bench-wait-{size}", name=f"wait {size}", principal_investigator="Bench", requested_by=user,
        status=Project.Status.ACTIVE,
    )  # fmt: skip
    ensure_quota(project)
    NotificationChoice.objects.create(user=user, project=project, wait_longer_than=timedelta(minutes=30))
    Webhook.objects.create(project=project, url="https://8.8.8.8/hook", created_by=user)
    then = timezone.now() - timedelta(hours=1)
    Job.objects.bulk_create(
        Job(project=project, submitter=user, name=f"j{i}", image="python:3.11-slim", command=["true"],
            status=JobStatus.QUEUED, created_at=then)
        for i in range(size)
    )  # fmt: skip
    return project


def tick(size: int) -> int:
    with transaction.atomic():
        with CaptureQueriesContext(connection) as captured:
            told = waits.tick()
        assert len(told) == 2 * size, (len(told), size)
        transaction.set_rollback(True)
    return len(captured)


def run() -> list[dict]:
    few_project = waiting(10)
    few = tick(10)
    Job.objects.filter(project=few_project).update(status=JobStatus.RUNNING)  # out of the way
    waiting(1000)
    many = tick(1000)
    return [
        {
            "name": "wait notifications: queries per tick (10 vs 1,000 waiting jobs)",
            "baseline": few,
            "ours": many,
            "ratio": many / few,
            "target": "1.0 (same count)",
            "ok": many == few,
        }
    ]
