"""Reconcile on Kubernetes against the test API server: a few paged lists per cycle whatever the
number of jobs (never a request per job), each kind of missed change repaired, one reconcile at a
time, a cancel a dead worker left half done finished, and lingering holds released."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from clusterjobs import actions, dispatch, sync, tasks
from clusterjobs.backends import get_backend
from clusterjobs.models import Job, JobStatus, TaskLease

from .conftest import make_spec
from .factories import JobFactory
from .k8s_cases import DIGEST
from .watching import wait_for

NS = "taller-genomics"
LISTS = {
    ("GET", "/apis/batch/v1/jobs"),
    ("GET", "/api/v1/pods"),
    ("GET", "/api/v1/events"),
}


@pytest.fixture
def k8s(cluster, settings):
    settings.TALLER_JOB_TRACKING_URI = "https://portal.example.edu/mlflow"
    settings.TALLER_K8S_LIST_PAGE_SIZE = 25
    return cluster


def on_cluster(personas, count: int, status: str = JobStatus.PENDING) -> list[Job]:
    """``count`` jobs the portal has as ``status``, each with its Job and Pod on the cluster (in
    a namespace without a quota)."""
    jobs = [JobFactory(project=personas.project, submitter=personas.bob, status=status) for _ in range(count)]
    Job.objects.filter(pk__in=[job.pk for job in jobs]).update(backend="kubernetes", status_reason="starting")
    for job in jobs:
        spec = make_spec(job.pk, project=personas.project.slug, uid=dispatch.job_uid(job))
        get_backend("kubernetes").submit(spec)
    return jobs


@pytest.mark.django_db
def test_a_reconcile_costs_a_few_paged_lists_not_requests_per_job(personas, k8s):
    on_cluster(personas, 60)
    start = len(k8s.api.requests)

    counts = tasks.reconcile_jobs.apply().get()

    requests = k8s.api.requests_by_route(start)
    # Three lists across namespaces (Jobs and Pods of the portal, FailedCreate events), 60 jobs in
    # pages of 25: 3 + 3 + 1 requests, and nothing per job.
    assert set(requests) == LISTS
    assert requests == {
        ("GET", "/apis/batch/v1/jobs"): 3,
        ("GET", "/api/v1/pods"): 3,
        ("GET", "/api/v1/events"): 1,
    }
    assert counts["checked"] == 60 and counts["moved"] == 0
    assert Job.objects.filter(status=JobStatus.PENDING).count() == 60


@pytest.mark.django_db
def test_a_reconcile_repairs_what_the_watcher_missed(personas, k8s):
    steady, started, done, oom, deleted, refused = on_cluster(personas, 6)
    api = k8s.api
    run(api, started)
    for job, code, reason in ((done, 0, "Completed"), (oom, 137, "OOMKilled")):
        run(api, job)
        end(api, job, code, reason)
    api.set_job_condition(NS, done.backend_name, "Complete")
    api.set_job_condition(NS, oom.backend_name, "Failed", "BackoffLimitExceeded", "backoff limit")
    api.delete("jobs", NS, deleted.backend_name, "Background")
    for pod in api.pods_of(NS, refused.backend_name):
        api.objects["pods"].pop((NS, pod["metadata"]["name"]))
    api.add_event(
        NS, refused.backend_name, "FailedCreate", 'Error creating: pods "x" is forbidden: exceeded quota: q'
    )

    counts = sync.reconcile()

    assert counts["checked"] == 6 and counts["moved"] == 4
    state = {job.pk: (job.status, job.status_reason) for job in Job.objects.all()}
    assert state[steady.pk] == (JobStatus.PENDING, "starting")
    assert state[started.pk] == (JobStatus.RUNNING, "running")
    assert state[done.pk] == (JobStatus.SUCCEEDED, "completed")
    assert state[oom.pk] == (JobStatus.FAILED, "out of memory (OOMKilled)")
    assert state[deleted.pk] == (JobStatus.FAILED, "the job is not on the cluster")
    assert state[refused.pk] == (
        JobStatus.PENDING,
        "the cluster did not create the pod: exceeded quota: q",
    )
    assert Job.objects.get(pk=started.pk).image_digest == DIGEST
    # Nothing left to repair: the next cycle moves nothing.
    assert sync.reconcile()["moved"] == 0


def run(api, job: Job) -> None:
    state = {"running": {"startedAt": "2026-11-26T10:00:00Z"}}
    api.container_state(NS, job.backend_name, state, "Running", image_id=DIGEST)


def end(api, job: Job, code: int, reason: str) -> None:
    state = {"terminated": {"exitCode": code, "reason": reason, "startedAt": "2026-11-26T10:00:00Z"}}
    api.container_state(NS, job.backend_name, state, "Succeeded" if code == 0 else "Failed", image_id=DIGEST)


@pytest.mark.django_db(transaction=True)
def test_a_reconcile_while_another_runs_is_skipped(personas, k8s):
    on_cluster(personas, 3)
    # The first reconcile's Job list is slow to answer: it is still running when the next comes.
    answer = k8s.api.pause("GET", "/apis/batch/v1/jobs?")
    outcome: list = []

    def first() -> None:
        try:
            outcome.append(sync.reconcile())
        finally:
            connection.close()

    thread = threading.Thread(target=first)
    thread.start()
    try:
        wait_for(lambda: k8s.api.requests_by_route()[("GET", "/apis/batch/v1/jobs")], 10, "the first list")
        start = len(k8s.api.requests)
        assert sync.reconcile() == {"skipped": 1}
        assert k8s.api.requests[start:] == []  # the skipped one asked the cluster nothing
    finally:
        answer.set()
        thread.join(timeout=30)
    assert outcome[0]["checked"] == 3
    # Once it is over, the next one runs.
    assert sync.reconcile()["checked"] == 3


@pytest.mark.django_db
def test_a_reconcile_lease_left_by_a_dead_worker_expires(personas, k8s, settings):
    on_cluster(personas, 1)
    assert sync.take_lease("reconcile", settings.TALLER_RECONCILE_LEASE_SECONDS)  # and the worker died
    assert sync.reconcile() == {"skipped": 1}
    TaskLease.objects.filter(name="reconcile").update(until=timezone.now() - timedelta(seconds=1))
    assert sync.reconcile()["checked"] == 1


@pytest.mark.django_db
def test_a_reconcile_finishes_a_cancel_a_dead_worker_left_half_done(personas, k8s):
    (job,) = on_cluster(personas, 1, status=JobStatus.RUNNING)
    # The cancel was recorded, and the worker died before it told the cluster.
    Job.objects.filter(pk=job.pk).update(cancel_reason="cancelled by bob", lingering=True)

    counts = sync.reconcile()

    assert counts["cancelled"] == 1
    job.refresh_from_db()
    assert (job.status, job.status_reason) == (JobStatus.CANCELLED, "cancelled by bob")
    assert k8s.api.get("jobs", NS, job.backend_name) is None
    assert job.lingering  # its Pod still goes: released when a look finds it gone


@pytest.mark.django_db
def test_a_reconcile_releases_jobs_whose_pods_are_gone_or_that_lingered_too_long(personas, k8s, settings):
    k8s.api.linger_pods = True
    gone, stuck = on_cluster(personas, 2)
    for job in (gone, stuck):
        actions.cancel_job(personas.bob, job)
    assert set(Job.objects.filter(lingering=True).values_list("pk", flat=True)) == {gone.pk, stuck.pk}
    # No watcher saw it: one Pod went, the other still terminates.
    (pod,) = k8s.api.pods_of(NS, gone.backend_name)
    k8s.api.objects["pods"].pop((NS, pod["metadata"]["name"]))

    assert sync.reconcile()["released"] == 1
    assert list(Job.objects.filter(lingering=True).values_list("pk", flat=True)) == [stuck.pk]

    # A Pod that never goes holds the job's resources at most TALLER_LINGER_TIMEOUT_SECONDS.
    Job.objects.filter(pk=stuck.pk).update(
        finished_at=timezone.now() - timedelta(seconds=settings.TALLER_LINGER_TIMEOUT_SECONDS + 1)
    )
    assert sync.reconcile()["released"] == 1
    assert not Job.objects.filter(lingering=True).exists()
