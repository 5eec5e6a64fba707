"""The figures of /metrics against what the database holds: jobs by project and state, queues,
admission and dispatch latencies over the window, GPU-hours against budgets, the watcher's lag and
MLflow's calls; and a scrape costs the same number of queries with 1,000 jobs as with 10, with
200 projects as with 2."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clusterjobs.backends.base import Backend, BackendStatus
from clusterjobs.models import Job, JobStatus, JobTransition
from clusterjobs.watcher import follow
from experiments import gateway
from portal.quotas.periods import period_window
from tests.clusterjobs.factories import JobFactory
from tests.conftest import free_port
from tests.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def value(samples: dict, name: str, **labels) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_jobs_by_project_and_state(personas, scrape):
    other = ProjectFactory(slug="physics")
    for status, n in [(JobStatus.QUEUED, 3), (JobStatus.RUNNING, 2), (JobStatus.FAILED, 1)]:
        for _ in range(n):
            JobFactory(project=personas.project, submitter=personas.bob, status=status)
    JobFactory(project=other, submitter=personas.bob, status=JobStatus.SUCCEEDED)
    found = scrape()
    assert value(found, "taller_jobs", project="genomics", status="queued") == 3
    assert value(found, "taller_jobs", project="genomics", status="running") == 2
    assert value(found, "taller_jobs", project="genomics", status="failed") == 1
    assert value(found, "taller_jobs", project="genomics", status="succeeded") == 0
    assert value(found, "taller_jobs", project="physics", status="succeeded") == 1
    assert value(found, "taller_jobs", project="physics", status="queued") == 0


def test_queue_length_and_oldest_wait(personas, scrape):
    now = timezone.now()
    for minutes in (10, 1):
        JobFactory(
            project=personas.project, submitter=personas.bob, created_at=now - timedelta(minutes=minutes)
        )
    JobFactory(project=personas.project, submitter=personas.bob, status=JobStatus.RUNNING)
    ProjectFactory(slug="idle")
    found = scrape()
    assert value(found, "taller_queue_length", project="genomics") == 2
    assert 600 <= value(found, "taller_queue_oldest_wait_seconds", project="genomics") < 660
    assert value(found, "taller_queue_length", project="idle") == 0
    assert value(found, "taller_queue_oldest_wait_seconds", project="idle") == 0


def moved(job: Job, steps: list[tuple[str, str, float]]) -> None:
    """Transitions of ``job``: (from, to, seconds ago)."""
    now = timezone.now()
    for source, target, ago in steps:
        JobTransition.objects.create(
            job=job, from_status=source, to_status=target, at=now - timedelta(seconds=ago)
        )


def test_admission_and_dispatch_latency_over_the_window(personas, scrape, settings):
    settings.TALLER_METRICS_WINDOW_SECONDS = 3600
    now = timezone.now()
    quick = JobFactory(
        project=personas.project, submitter=personas.bob, created_at=now - timedelta(seconds=100)
    )
    moved(quick, [("queued", "dispatching", 45), ("dispatching", "pending", 35), ("pending", "running", 20)])
    slow = JobFactory(
        project=personas.project, submitter=personas.bob, created_at=now - timedelta(seconds=1000)
    )
    moved(slow, [("queued", "dispatching", 500), ("dispatching", "running", 210)])
    # Admitted and dispatched two hours ago: outside the window.
    old = JobFactory(project=personas.project, submitter=personas.bob, created_at=now - timedelta(hours=3))
    moved(old, [("queued", "dispatching", 7300), ("dispatching", "running", 7200)])
    found = scrape()

    admission = "taller_job_admission_latency_seconds"
    assert value(found, f"{admission}_bucket", le="30.0") == 0
    assert value(found, f"{admission}_bucket", le="60.0") == 1  # quick: 55 s
    assert value(found, f"{admission}_bucket", le="300.0") == 1
    assert value(found, f"{admission}_bucket", le="600.0") == 2  # slow: 500 s
    assert value(found, f"{admission}_bucket", le="+Inf") == 2
    assert value(found, f"{admission}_gcount") == 2
    assert value(found, f"{admission}_gsum") == pytest.approx(555, abs=1)

    dispatch = "taller_job_dispatch_latency_seconds"
    assert value(found, f"{dispatch}_bucket", le="5.0") == 0
    assert value(found, f"{dispatch}_bucket", le="15.0") == 1  # quick: 10 s to pending
    assert value(found, f"{dispatch}_bucket", le="300.0") == 2  # slow: 290 s to running
    assert value(found, f"{dispatch}_bucket", le="120.0") == 1
    assert value(found, f"{dispatch}_gcount") == 2
    assert value(found, f"{dispatch}_gsum") == pytest.approx(300, abs=1)
    assert value(found, "taller_metrics_window_seconds") == 3600


def test_gpu_hours_against_budgets(personas, scrape):
    quota = personas.project.quota
    quota.gpu_hours_per_period = 40
    quota.period = "monthly"
    quota.save()
    now = timezone.now()
    started = max(now - timedelta(hours=3), period_window("monthly", now).start)
    JobFactory(
        project=personas.project, submitter=personas.bob, status=JobStatus.RUNNING, gpus=2, started_at=started
    )
    # Ended before this period began: not counted.
    JobFactory(
        project=personas.project,
        submitter=personas.bob,
        status=JobStatus.SUCCEEDED,
        gpus=4,
        started_at=period_window("monthly", now).start - timedelta(days=3),
        finished_at=period_window("monthly", now).start - timedelta(days=2),
    )
    weekly = ProjectFactory(slug="weekly")
    weekly.quota.period = "weekly"
    weekly.quota.gpu_hours_per_period = 7
    weekly.quota.save()
    found = scrape()
    expected = 2 * (now - started).total_seconds()  # GPU-seconds
    used = value(found, "taller_project_gpu_used_seconds", project="genomics", period="monthly")
    assert used == pytest.approx(expected, abs=5)
    assert (
        value(found, "taller_project_gpu_budget_seconds", project="genomics", period="monthly") == 40 * 3600
    )
    assert value(found, "taller_project_gpu_used_seconds", project="weekly", period="weekly") == 0
    assert value(found, "taller_project_gpu_budget_seconds", project="weekly", period="weekly") == 7 * 3600


class OneStatus(Backend):
    """A backend whose watch stream reports one job as running since ``started_at``, then ends."""

    name = "kubernetes"

    def __init__(self, status: BackendStatus, stop: threading.Event) -> None:
        self.status_to_send = status
        self.stop = stop

    def watch(self, stop):
        yield self.status_to_send
        self.stop.set()

    def submit(self, spec):
        raise AssertionError("the watcher only watches; it calls nothing else of its backend")

    def cancel(self, job_id, project):
        raise AssertionError("the watcher only watches; it calls nothing else of its backend")

    def logs(self, job_id, project, tail=None):
        raise AssertionError("the watcher only watches; it calls nothing else of its backend")

    def status(self, job_id, project):
        raise AssertionError("the watcher only watches; it calls nothing else of its backend")


@pytest.mark.django_db(transaction=True)  # the watcher drops connections between statuses
def test_watcher_lag(personas, scrape):
    job = JobFactory(project=personas.project, submitter=personas.bob, status=JobStatus.PENDING)
    started = timezone.now() - timedelta(seconds=42)
    stop = threading.Event()
    before = timezone.now().timestamp()
    follow(stop, OneStatus(BackendStatus(job_id=job.pk, phase="running", started_at=started), stop))
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    found = scrape()
    assert value(found, "taller_watcher_lag_seconds", backend="kubernetes") == pytest.approx(42, abs=5)
    assert value(found, "taller_watcher_last_applied_timestamp_seconds", backend="kubernetes") >= before
    assert value(found, "taller_watcher_started_timestamp_seconds", backend="kubernetes") >= before - 1


def mlflow_figures(found: dict) -> tuple[float, float, float]:
    return (
        value(found, "taller_mlflow_request_duration_seconds_count", call="rest"),
        value(found, "taller_mlflow_request_errors_total", call="rest", error="server"),
        value(found, "taller_mlflow_request_errors_total", call="rest", error="unreachable"),
    )


def test_mlflow_calls_and_errors(db, scrape, settings, httpserver):
    before = mlflow_figures(scrape())
    httpserver.expect_request("/api/2.0/mlflow/experiments/search").respond_with_json({"experiments": []})
    httpserver.expect_request("/api/2.0/mlflow/runs/get").respond_with_json(
        {"error_code": "INTERNAL_ERROR"}, status=500
    )
    settings.MLFLOW_TRACKING_URI = httpserver.url_for("/").rstrip("/")
    assert gateway.send("GET", "api/2.0/mlflow/experiments/search").status_code == 200
    assert gateway.send("GET", "api/2.0/mlflow/runs/get").status_code == 500
    settings.MLFLOW_TRACKING_URI = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(gateway.GatewayError):
        gateway.send("GET", "api/2.0/mlflow/experiments/search")
    after = mlflow_figures(scrape())
    assert [b - a for a, b in zip(before, after, strict=True)] == [3, 1, 1]


def populate(projects: int, jobs: int) -> None:
    user = UserFactory()
    made = [ProjectFactory() for _ in range(projects)]
    now = timezone.now()
    statuses = [JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.SUCCEEDED, JobStatus.FAILED]
    Job.objects.bulk_create(
        Job(
            project=made[i % projects],
            submitter=user,
            name=f"job {i}",
            image="python:3.11-slim",
            command=["true"],
            status=statuses[i % 4],
            gpus=i % 3,
            created_at=now - timedelta(minutes=i % 90),
            started_at=None if statuses[i % 4] == JobStatus.QUEUED else now - timedelta(minutes=i % 90),
        )
        for i in range(jobs)
    )
    created = Job.objects.filter(submitter=user)
    JobTransition.objects.bulk_create(
        JobTransition(job=job, from_status=source, to_status=target, at=now - timedelta(minutes=ago))
        for job in created
        if job.status != JobStatus.QUEUED
        for source, target, ago in [("queued", "dispatching", 5), ("dispatching", "running", 4)]
    )


def queries_of_a_scrape(scrape) -> int:
    with CaptureQueriesContext(connection) as captured:
        scrape()
    return len(captured)


def test_queries_do_not_grow_with_jobs_or_projects(scrape):
    populate(projects=2, jobs=10)
    few = queries_of_a_scrape(scrape)
    Job.objects.all().delete()
    populate(projects=200, jobs=1000)
    many = queries_of_a_scrape(scrape)
    assert few == many
    assert many <= 10
