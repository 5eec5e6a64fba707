"""SQL queries of one Prometheus scrape of /metrics with 10 jobs in 2 projects against 1,000 jobs
in 200 projects: the count must not grow (ratio 1.0)."""

from datetime import timedelta

from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clusterjobs.models import Job, JobStatus, JobTransition
from portal.accounts.models import User
from portal.projects.models import Project
from portal.quotas.actions import ensure_quota

STATUSES = [JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.SUCCEEDED, JobStatus.FAILED]


def populate(name: str, projects: int, jobs: int) -> None:
    user = User.objects.create_user(username=name, email=f"{name}@bench.example")
    made = []
    for i in range(projects):
        project = Project.objects.create(
            slug=f"{name}-{i}",
            name=f"{name} {i}",
            principal_investigator="Bench",
            requested_by=user,
            status=Project.Status.ACTIVE,
        )
        ensure_quota(project)
        made.append(project)
    now = timezone.now()
    created = Job.objects.bulk_create(
        Job(
            project=made[i % projects],
            submitter=user,
            name=f"job {i}",
            image="python:3.11-slim",
            command=["python", "-m", "examples.train"],
            status=STATUSES[i % len(STATUSES)],
            gpus=i % 3,
            created_at=now - timedelta(minutes=i % 90),
            started_at=None if i % len(STATUSES) == 0 else now - timedelta(minutes=i % 90),
        )
        for i in range(jobs)
    )
    JobTransition.objects.bulk_create(
        JobTransition(job=job, from_status=source, to_status=target, at=now - timedelta(minutes=ago))
        for job in created
        if job.status != JobStatus.QUEUED
        for source, target, ago in [
            (JobStatus.QUEUED, JobStatus.DISPATCHING, 5),
            (JobStatus.DISPATCHING, JobStatus.RUNNING, 4),
        ]
    )


@override_settings(TALLER_METRICS_ALLOWED_ADDRESSES=["127.0.0.1"], TALLER_METRICS_TOKEN="")
def scrape_queries() -> int:
    with CaptureQueriesContext(connection) as captured:
        response = Client().get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200, response.status_code
    return len(captured)


def run() -> list[dict]:
    populate("bench-metrics-few", 2, 10)
    few = scrape_queries()
    populate("bench-metrics-many", 200, 1000)
    many = scrape_queries()
    return [
        {
            "name": "GET /metrics queries (10 jobs, 2 projects vs 1,000 jobs, 200 projects)",
            "baseline": few,
            "ours": many,
            "ratio": many / few,
            "target": "1.0 (same count)",
            "ok": many == few,
        }
    ]
