"""Celery tasks of cluster jobs: thin wrappers, taking ids, over the modules they run (dispatch.py,
sync.py). The two tasks those modules enqueue are handed to queue.py at the end of this module."""

import logging

from celery import shared_task
from django.conf import settings
from django.utils.translation import gettext_noop

from experiments.gateway import GatewayError
from portal import retry
from portal.retry import TRANSIENT_DATABASE_ERRORS, WritingTask

from . import dispatch, queue, resource_use, sync
from .backends import BackendError

log = logging.getLogger(__name__)


def backoff(retries: int) -> int:
    """Seconds before the next attempt on a backend that failed: 5, 10, 20, ... at most 5 minutes."""
    return min(dispatch.FIRST_RETRY_SECONDS * 2**retries, 300)


# acks_late + reject_on_worker_lost: a worker killed mid-dispatch leaves the message to be
# delivered again (where the broker can: the filesystem broker cannot, and the drain dispatches
# the job again once the dead attempt's claim lapses); dispatch.dispatch is idempotent, so a second
# delivery starts nothing twice.
@shared_task(bind=True, base=WritingTask, acks_late=True, reject_on_worker_lost=True)
def dispatch_job(self, job_id: int) -> str:
    try:
        return dispatch.dispatch(job_id, attempt=self.request.id or "")
    except BackendError as error:
        attempts = self.request.retries + 1
        if error.permanent:
            sync.fail_job(job_id, dispatch.BACKEND_REFUSED % {"error": error})
            return "failed"
        if self.request.retries >= settings.TALLER_DISPATCH_MAX_RETRIES:
            sync.fail_job(
                job_id,
                gettext_noop("could not be created on the backend after %(n)s attempts: %(error)s")
                % {"n": attempts, "error": error},
            )
            return "failed"
        raise _retry_dispatch(self, job_id, error, backoff(self.request.retries)) from error
    except TRANSIENT_DATABASE_ERRORS as error:
        # The shared policy for the database; out of retries, the job's claim lapses and the
        # drain dispatches it again.
        if self.request.retries >= self.max_retries:
            raise
        raise _retry_dispatch(self, job_id, error, retry.backoff(self.request.retries)) from error


@shared_task(base=WritingTask, acks_late=True, reject_on_worker_lost=True)
def dispatch_jobs(job_ids: list[int]) -> dict[int, str]:
    """dispatch_job for a batch of admitted jobs (see dispatch.dispatch_many): a failed job is
    handed to a dispatch_job of its own, which retries it; a transient database error retries the
    batch, which leaves alone what it already did."""
    return dispatch.dispatch_many(job_ids)


def _retry_dispatch(task, job_id: int, error: Exception, countdown: float) -> Exception:
    log.warning(
        "dispatch of job %s failed (attempt %s), retrying: %s", job_id, task.request.retries + 1, error
    )
    dispatch.dispatch_failed(job_id, task.request.id or "", error, countdown)
    return task.retry(exc=error, countdown=countdown, max_retries=None, throw=False)


@shared_task(bind=True, base=WritingTask, acks_late=True, max_retries=20)
def sync_job_run(self, job_id: int) -> str:
    """Finish a job's MLflow run once MLflow answers again."""
    outcome = sync.sync_run(job_id)
    if outcome == "retry":
        raise self.retry(countdown=backoff(self.request.retries))
    return outcome


@shared_task(bind=True, base=WritingTask, acks_late=True, max_retries=6)
def check_gpu_use(self, job_id: int) -> str:
    """Once a job that held GPUs ended: flag its run when it used them little (resource_use.py).
    Prometheus or MLflow down: tried again later, a few times."""
    try:
        outcome = resource_use.flag_gpu_use(job_id)
    except (resource_use.PrometheusError, GatewayError):
        raise self.retry(countdown=backoff(self.request.retries)) from None
    return {None: "nothing", True: "underused", False: "used"}[outcome]


@shared_task(base=WritingTask)
def reconcile_jobs() -> dict:
    return sync.reconcile()


@shared_task(base=WritingTask)
def drain_queues() -> list[int]:
    return dispatch.drain_queues()


queue.install(
    dispatch_job=dispatch_job,
    dispatch_jobs=dispatch_jobs,
    sync_job_run=sync_job_run,
    check_gpu_use=check_gpu_use,
)
