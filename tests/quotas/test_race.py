"""50 submissions from concurrent threads, each with its own database connection, against a
project allowed 4 GPUs: never more than 4 GPUs admitted at once, no job lost or counted twice."""

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Sum

from clusterjobs import actions
from clusterjobs.lifecycle import move_job
from clusterjobs.models import Job, JobStatus, JobTransition
from clusterjobs.validation import check_request
from portal.projects.models import Project
from portal.quotas import admission
from portal.quotas.models import Holding, Quota

from .conftest import make_job, set_quota

SUBMISSIONS = 50
THREADS = 25  # each thread its own connection; leaves room for other users of the server


def active_gpus() -> int:
    return Job.objects.active().aggregate(g=Sum("gpus"))["g"] or 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_never_exceed_the_quota(personas):
    project, bob = personas.project, personas.bob
    set_quota(
        project, max_gpus=4, max_running_jobs=50, max_cpu=Decimal(64), gpu_hours_per_period=Decimal(10000)
    )
    start = threading.Barrier(THREADS)
    done = threading.Event()
    observed: list[int] = []
    rejected: list[int] = []

    def watch() -> None:
        try:
            while not done.is_set():
                observed.append(active_gpus())
        finally:
            connection.close()

    def submit(i: int) -> None:
        quota = Quota.objects.get(project=project)
        with transaction.atomic():
            admission.check_submission(
                quota, cpu=Decimal(1), memory_mib=64, gpus=1 + i % 2, time_limit_minutes=10, submitter=bob
            )
            make_job(project, bob, gpus=1 + i % 2, name=f"race-{i}")
        admission.admit_all()
        if i % 4 == 0:
            # Some jobs end meanwhile, freeing GPUs for others.
            ending = (
                Job.objects.filter(project=project)
                .active()
                .order_by("?")
                .values_list("pk", flat=True)
                .first()
            )
            if ending and move_job(ending, JobStatus.SUCCEEDED, "done"):
                admission.admit_all()

    def worker(indices: list[int]) -> None:
        try:
            start.wait()
            for i in indices:
                try:
                    submit(i)
                except ValidationError:
                    rejected.append(i)
        finally:
            connection.close()

    indices = list(range(SUBMISSIONS))
    random.shuffle(indices)
    watcher = threading.Thread(target=watch)
    watcher.start()
    with ThreadPoolExecutor(THREADS) as pool:
        for future in [pool.submit(worker, indices[t::THREADS]) for t in range(THREADS)]:
            future.result()
    done.set()
    watcher.join()

    assert rejected == []
    assert max(observed) <= 4 and len(observed) > 10
    jobs = Job.objects.filter(project=project)
    assert jobs.count() == SUBMISSIONS  # none lost
    assert set(jobs.values_list("status", flat=True)) <= {
        JobStatus.DISPATCHING,
        JobStatus.QUEUED,
        JobStatus.SUCCEEDED,
    }
    assert active_gpus() <= 4
    # None admitted twice: one queued -> dispatching move per job at most.
    admitted_twice = (
        JobTransition.objects.filter(to_status=JobStatus.DISPATCHING)
        .values("job")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
    )
    assert not admitted_twice.exists()
    # What was left waiting cannot start beside what holds the GPUs now: nothing fits is left behind.
    assert admission.admit_all() == []
    holding = Holding.objects.get(project=project)
    assert (holding.gpus, holding.queued_jobs) == (
        active_gpus(),
        jobs.filter(status=JobStatus.QUEUED).count(),
    )


BUDGET_JOBS = 3  # the GPU-hour budget pays for exactly this many of the jobs below
SUBMITTERS = 16  # each its own thread and connection, all submitting at the same moment


@pytest.mark.slow  # a real mlflow server: the run is created between the budget check and the commit
@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_never_overspend_the_budget(personas, mlflow_uri):
    """The GPU-hour budget runs out: of 16 simultaneous submissions of a 1 GPU-hour job against a
    3 GPU-hour budget, exactly 3 are accepted and the others refused on their budget.

    Without the quota row lock in the submission's budget check, every submitter reads the budget
    before any of the others commits its job (the MLflow run is created between the check and the
    commit), and all of them are accepted."""
    project, bob = personas.project, personas.bob
    set_quota(
        project,
        max_gpus=SUBMITTERS,
        max_running_jobs=SUBMITTERS,
        max_cpu=Decimal(SUBMITTERS),
        max_memory_mib=SUBMITTERS * 1024,
        gpu_hours_per_period=Decimal(BUDGET_JOBS),
        cpu_hours_per_period=Decimal(10000),
    )
    start = threading.Barrier(SUBMITTERS)
    accepted: list[int] = []
    refused: list[dict] = []

    def submit(i: int) -> None:
        try:
            start.wait()
            where = Project.objects.get(pk=project.pk)
            asked = dict(
                name=f"budget-{i}",
                image="python:3.11",
                command=["python", "-c", "pass"],
                cpu="1",
                memory_mib=256,
                gpus=1,
                time_limit_minutes=60,  # 1 GPU-hour each
                experiment="race",
            )
            job = actions.submit_job(bob, where, check_request(bob, where, **asked))
            accepted.append(job.pk)
        except ValidationError as error:
            refused.append(error.message_dict)
        finally:
            connection.close()

    with ThreadPoolExecutor(SUBMITTERS) as pool:
        for future in [pool.submit(submit, i) for i in range(SUBMITTERS)]:
            future.result()

    assert len(accepted) == BUDGET_JOBS, f"{len(accepted)} jobs accepted on a budget for {BUDGET_JOBS}"
    assert len(refused) == SUBMITTERS - BUDGET_JOBS
    assert all("GPU-hour" in " ".join(problems["gpus"]) for problems in refused), refused
    assert Job.objects.filter(project=project).count() == BUDGET_JOBS
    assert admission.budget_of(Quota.objects.get(project=project)).gpu_hours_remaining == 0
