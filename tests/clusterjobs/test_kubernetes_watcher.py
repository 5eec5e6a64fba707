"""The watcher loop (watch_jobs) on Kubernetes with the database: a status the database refused
is saved later without any further change on the cluster, and after an API server restart the
watcher is back and the job's status converges within 10 s."""

import pytest
from django.db import connection
from django.utils import timezone

from clusterjobs.models import Job, JobStatus, JobTransition

from .factories import dispatched_job
from .k8s_cases import DIGEST
from .watching import Watcher, wait_for

NS = "taller-genomics"
CONVERGED = 10  # seconds from the change on the cluster to the job's transition (the requirement)


def running(api, job: Job) -> None:
    api.container_state(
        NS, job.backend_name, {"running": {"startedAt": "2026-11-26T10:00:00Z"}}, "Running", image_id=DIGEST
    )


def status_of(pk: int, status: str, timeout: float) -> Job:
    return wait_for(
        lambda: (job := Job.objects.get(pk=pk)).status == status and job, timeout, f"job {pk} to be {status}"
    )


@pytest.fixture
def refuse_once():
    """The database refuses the next move of a job to `running` once (a failover, a lock timeout):
    a trigger that raises the first time a sequence is drawn. PostgreSQL only, as the tests run."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE SEQUENCE test_refusals;
            CREATE FUNCTION test_refuse_once() RETURNS trigger AS $$
            BEGIN
                IF NEW.status = 'running' AND OLD.status <> 'running' AND nextval('test_refusals') = 1 THEN
                    RAISE EXCEPTION 'the database is going away (a test)';
                END IF;
                RETURN NEW;
            END
            $$ LANGUAGE plpgsql;
            CREATE TRIGGER test_refuse_once BEFORE UPDATE ON clusterjobs_job
            FOR EACH ROW EXECUTE FUNCTION test_refuse_once();
            """
        )
    yield lambda: _drawn()
    with connection.cursor() as cursor:
        cursor.execute(
            "DROP TRIGGER test_refuse_once ON clusterjobs_job; DROP FUNCTION test_refuse_once(); "
            "DROP SEQUENCE test_refusals;"
        )


def _drawn() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT is_called FROM test_refusals")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_status_the_database_refused_is_saved_later_without_a_new_change(personas, cluster, refuse_once):
    job = dispatched_job(personas.project, personas.bob)
    watcher = Watcher(cluster.backend)
    try:
        running(cluster.api, job)  # the one change on the cluster; nothing else happens after it
        wait_for(refuse_once, CONVERGED, "the database to refuse the move to running")
        job = status_of(job.pk, JobStatus.RUNNING, CONVERGED)
    finally:
        watcher.close()
    assert job.image_digest == DIGEST


@pytest.mark.django_db(transaction=True)
def test_the_watcher_converges_within_10_s_of_an_api_server_restart(personas, cluster):
    job = dispatched_job(personas.project, personas.bob)
    watcher = Watcher(cluster.backend)
    try:
        wait_for(lambda: cluster.api.open_streams() == 3, CONVERGED, "the watch streams to open")
        # Down long enough for a reconnect delay that doubles without a low cap to pass 10 s; it
        # comes back with its watch cache gone (410 for the old resourceVersions).
        cluster.api.restart(down_seconds=16)
        changed = timezone.now()
        running(cluster.api, job)
        job = status_of(job.pk, JobStatus.RUNNING, 3 * CONVERGED)
    finally:
        watcher.close()
    moved = JobTransition.objects.get(job=job, to_status=JobStatus.RUNNING).at
    assert (moved - changed).total_seconds() <= CONVERGED
