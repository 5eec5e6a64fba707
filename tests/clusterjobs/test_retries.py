"""Transient database errors: a task or the watcher that meets one tries again with backoff
(portal/retry.py) instead of losing its write. The errors are real: another transaction holds the
job's row past the database's lock timeout, PostgreSQL's lock_timeout, set on the test database so
that every new connection (the worker's, the watcher's) has it."""

import threading
import time
from contextlib import contextmanager

import pytest
from django.db import connection, transaction

from clusterjobs import tasks
from clusterjobs.models import Job, JobStatus
from clusterjobs.watcher import follow

from .test_dispatch import admitted
from .test_end_to_end import wait_for


@pytest.fixture
def short_lock_timeout(transactional_db):
    database = connection.ops.quote_name(connection.settings_dict["NAME"])
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER DATABASE {database} SET lock_timeout = '200ms'")
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER DATABASE {database} RESET lock_timeout")


@contextmanager
def row_held(job_id: int, seconds: float):
    """Another transaction (a slow request, say) holds the job's row for a while."""
    held = threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                Job.objects.select_for_update().get(pk=job_id)
                held.set()
                time.sleep(seconds)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(30)
    try:
        yield
    finally:
        holder.join()


@pytest.mark.slow
def test_dispatch_retries_a_transient_database_error(personas, local, short_lock_timeout, celery_worker):
    job = admitted(
        personas, command=["python", "-c", "print('dispatched')"], mlflow_run_id="", mlflow_experiment_id=""
    )
    with row_held(job.pk, 2):
        tasks.dispatch_job.delay(job.pk)  # its first attempt waits 200 ms for the row, and fails
    wait_for(lambda: Job.objects.get(pk=job.pk).status != JobStatus.DISPATCHING, 60, "the dispatch")
    assert Job.objects.get(pk=job.pk).status in (JobStatus.PENDING, JobStatus.RUNNING)
    assert local.wait(job.pk, 30).phase == "succeeded"


@pytest.mark.slow
def test_watcher_retries_a_transient_database_error(personas, local, short_lock_timeout):
    job = admitted(
        personas, command=["python", "-c", "print('done')"], mlflow_run_id="", mlflow_experiment_id=""
    )
    tasks.dispatch_job.apply(args=(job.pk,))
    assert local.wait(job.pk, 30).phase == "succeeded"
    stop = threading.Event()

    def watch() -> None:
        try:
            follow(stop, local)
        finally:
            connection.close()

    watcher = threading.Thread(target=watch)
    try:
        with row_held(job.pk, 2):
            watcher.start()  # it sees the job ended at once, and cannot write it for 2 s
        wait_for(lambda: Job.objects.get(pk=job.pk).is_terminal(), 60, "the watcher to record the end")
    finally:
        stop.set()
        watcher.join(timeout=30)
    job.refresh_from_db()
    assert (job.status, job.final_log) == (JobStatus.SUCCEEDED, "done")
