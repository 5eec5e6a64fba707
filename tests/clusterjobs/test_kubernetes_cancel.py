"""Cancel on Kubernetes against the test API server, with the watcher loop running: a cancel
always ends `cancelled`, even when the watcher sees the Job's deletion before the cancel is
recorded, and the cancelled job's resources stay held for admission until its Pod is gone."""

import threading

import pytest
from django.db import connection

from clusterjobs import actions, dispatch, queue
from clusterjobs.models import Job, JobStatus
from portal.errors import ServiceUnavailable
from portal.quotas.actions import ensure_quota
from portal.quotas.models import Quota

from .factories import JobFactory, dispatched_job
from .watching import Watcher, wait_for

NS = "taller-genomics"
WAIT = 10  # seconds: a bound on what must happen, not a measure of speed


def job_with(pk: int, status: str) -> Job:
    return wait_for(
        lambda: (job := Job.objects.get(pk=pk)).status == status and job, WAIT, f"job {pk} to be {status}"
    )


def running(api, job: Job) -> None:
    api.container_state(NS, job.backend_name, {"running": {"startedAt": "2026-11-26T10:00:00Z"}}, "Running")


@pytest.mark.django_db(transaction=True)
def test_a_cancel_whose_deletion_the_watcher_sees_first_ends_cancelled(personas, cluster):
    job = dispatched_job(personas.project, personas.bob)
    running(cluster.api, job)
    cluster.api.set_log(NS, job.backend_name, "epoch 1/3\n")
    watcher = Watcher(cluster.backend)
    outcome: list = []

    def cancel() -> None:
        try:
            outcome.append(actions.cancel_job(personas.bob, Job.objects.get(pk=job.pk)))
        finally:
            connection.close()

    try:
        job_with(job.pk, JobStatus.RUNNING)
        # The cluster deletes the Job at once, but its answer to the DELETE is slow: the watcher
        # sees the deletion while the cancel still waits for it.
        answer = cluster.api.pause("DELETE", f"/apis/batch/v1/namespaces/{NS}/jobs/{job.backend_name}")
        canceller = threading.Thread(target=cancel)
        canceller.start()
        ended = wait_for(
            lambda: (j := Job.objects.get(pk=job.pk)).is_terminal() and j, WAIT, "the watcher to end the job"
        )
        answer.set()
        canceller.join(timeout=30)
    finally:
        watcher.close()

    assert (ended.status, ended.status_reason) == (JobStatus.CANCELLED, "cancelled by bob")
    assert outcome == [True]
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.final_log == "epoch 1/3"
    assert [t.to_status for t in job.transitions.all()] == ["dispatching", "pending", "running", "cancelled"]
    assert cluster.api.get("jobs", NS, job.backend_name) is None


@pytest.mark.django_db(transaction=True)
def test_a_cancelled_jobs_resources_stay_held_until_its_pod_is_gone(personas, cluster):
    cluster.api.linger_pods = True  # a deleted Job's Pod terminates for a while, still counted by the quota
    ensure_quota(personas.project)
    Quota.objects.filter(project=personas.project).update(max_running_jobs=1)
    first = dispatched_job(personas.project, personas.bob)
    running(cluster.api, first)
    waiting = JobFactory(project=personas.project, submitter=personas.bob)
    assert queue.admit_and_dispatch() == []  # the project's one job slot is taken
    watcher = Watcher(cluster.backend)
    try:
        job_with(first.pk, JobStatus.RUNNING)
        assert actions.cancel_job(personas.bob, first)

        # Cancelled, but its Pod still terminates and the namespace's quota still counts it: the
        # next job is not admitted yet (its Pod would be refused).
        assert Job.objects.get(pk=first.pk).status == JobStatus.CANCELLED
        assert [p["metadata"]["name"] for p in cluster.api.terminating_pods()]
        assert queue.admit_and_dispatch() == []
        assert Job.objects.get(pk=waiting.pk).status == JobStatus.QUEUED

        # The Pod is gone: the watcher sees it go, and the waiting job is admitted.
        assert cluster.api.end_termination() == 1
        job_with(waiting.pk, JobStatus.DISPATCHING)
    finally:
        watcher.close()
    assert not Job.objects.get(pk=first.pk).lingering
    # Its Pod is created at once: the cluster's quota has room for it.
    assert dispatch.dispatch(waiting.pk) == "submitted"
    assert len(cluster.api.pods_of(NS, f"taller-{waiting.pk}")) == 1
    assert not [e for e in cluster.api.items("events", NS) if e["reason"] == "FailedCreate"]


@pytest.mark.django_db
def test_a_cancel_the_cluster_refuses_changes_nothing(personas, cluster):
    job = dispatched_job(personas.project, personas.bob)
    cluster.api.fail_next.extend([(503, "the server is shutting down")] * 2)  # the log, then the delete
    with pytest.raises(ServiceUnavailable):
        actions.cancel_job(personas.bob, job)
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING
    assert (job.cancel_reason, job.final_log, job.lingering) == ("", "", False)
    assert cluster.api.get("jobs", NS, job.backend_name) is not None


@pytest.mark.django_db
def test_a_cancel_page_the_cluster_refuses_says_so_on_the_job_page(personas, cluster):
    job = dispatched_job(personas.project, personas.bob)
    cluster.api.fail_next.extend([(503, "the server is shutting down")] * 2)  # the log, then the delete
    client = personas.client("bob")
    page = f"http://testserver{job.get_absolute_url()}"
    response = client.post(f"/jobs/{job.pk}/cancel/", HTTP_REFERER=page, follow=True)
    assert response.redirect_chain == [(page, 302)]
    assert "could not be stopped on its backend" in response.content.decode()
    assert Job.objects.get(pk=job.pk).status == JobStatus.PENDING
