"""Deciding what starts after a pipeline step ends (``engine.job_ended``) in a chain of 10 steps
against one of 500: the same SQL queries (ratio 1.0) and the same time (median of repeated
decisions, each rolled back; target: at most 1.5 times)."""

import statistics
import time

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clusterjobs.models import Job, JobStatus
from pipelines import engine
from pipelines.models import Pipeline, PipelineRun, StepRun, StepStatus
from portal.accounts.models import User
from portal.projects.models import Project
from portal.quotas.actions import ensure_quota

REPEATS = 60
TARGET_RATIO = 1.5


def chain(size: int) -> int:
    """A running pipeline of ``size`` steps in a chain, its middle step's job just succeeded;
    returns that job's id."""
    user = User.objects.create_user(username=f"bench-pipe-{size}", email=f"pipe{size}@bench.example")
    project = Project.objects.create(
        slug=f"bench-pipe-{size}", name=f"pipe {size}", principal_investigator="Bench", requested_by=user,
        status=Project.Status.ACTIVE,
    )  # fmt: skip
    ensure_quota(project)
    pipeline = Pipeline.objects.create(project=project, name="chain", definition={}, created_by=user)
    run = PipelineRun.objects.create(pipeline=pipeline, project=project, started_by=user, definition={})
    now = timezone.now()
    jobs = Job.objects.bulk_create(
        Job(project=project, submitter=user, name=f"s{i}", image="python:3.11-slim", command=["true"],
            status=JobStatus.SUCCEEDED, created_at=now, finished_at=now, mlflow_run_id=f"{i:032x}")
        for i in range(size)
    )  # fmt: skip
    middle = size // 2

    def status(i: int) -> str:
        return (
            StepStatus.SUCCEEDED
            if i < middle
            else StepStatus.SUBMITTED
            if i == middle
            else StepStatus.WAITING
        )

    StepRun.objects.bulk_create(
        StepRun(run=run, name=f"s{i}", position=i, spec={"command": ["true"]},
                depends_on=[f"s{i - 1}"] if i else [], dependants=[f"s{i + 1}"] if i + 1 < size else [],
                unmet=0 if i <= middle else 1, status=status(i), job=jobs[i])
        for i in range(size)
    )  # fmt: skip
    return jobs[middle].pk


def decide(job_id: int) -> tuple[float, int]:
    """One decision, timed and counted, then rolled back (nothing is sent: no commit)."""
    with transaction.atomic():
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            outcome = engine.job_ended(job_id)
            elapsed = time.perf_counter() - started
        assert outcome == StepStatus.SUCCEEDED, outcome
        transaction.set_rollback(True)
    return elapsed, len(captured)


def measure(size: int) -> tuple[float, int]:
    job_id = chain(size)
    decide(job_id)  # warm up
    timings, counts = zip(*(decide(job_id) for _ in range(REPEATS)), strict=True)
    return statistics.median(timings) * 1000, counts[0]


def run() -> list[dict]:
    few_ms, few_queries = measure(10)
    many_ms, many_queries = measure(500)
    return [
        {
            "name": "pipeline step end: queries to decide (10 vs 500 steps)",
            "baseline": few_queries,
            "ours": many_queries,
            "ratio": many_queries / few_queries,
            "target": "1.0 (same count)",
            "ok": many_queries == few_queries,
        },
        {
            "name": "pipeline step end: median time to decide (10 vs 500 steps)",
            "baseline": few_ms,
            "ours": many_ms,
            "unit": "ms",
            "ratio": many_ms / few_ms,
            "target": f"<= {TARGET_RATIO}",
            "ok": many_ms / few_ms <= TARGET_RATIO,
        },
    ]
