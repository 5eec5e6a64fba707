"""Celery tasks of cluster jobs: thin wrappers over clusterjobs.actions, taking ids."""

import logging

from celery import shared_task
from django.conf import settings
from django.utils.translation import gettext as _

from . import actions
from .backends import BackendError

log = logging.getLogger(__name__)


def backoff(retries: int) -> int:
    """Seconds before the next attempt: 5, 10, 20, ... at most 5 minutes."""
    return min(5 * 2**retries, 300)


# acks_late + reject_on_worker_lost: a worker killed mid-dispatch leaves the message to be
# delivered again; actions.dispatch is idempotent, so the second delivery starts nothing twice.
@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def dispatch_job(self, job_id: int) -> str:
    try:
        return actions.dispatch(job_id)
    except BackendError as error:
        attempts = self.request.retries + 1
        if error.permanent:
            actions.fail_job(job_id, _("the backend refused the job: %(error)s") % {"error": error})
            return "failed"
        if self.request.retries >= settings.TALLER_DISPATCH_MAX_RETRIES:
            actions.fail_job(
                job_id,
                _("could not be created on the backend after %(n)s attempts: %(error)s")
                % {"n": attempts, "error": error},
            )
            return "failed"
        log.warning("dispatch of job %s failed (attempt %s), retrying: %s", job_id, attempts, error)
        raise self.retry(exc=error, countdown=backoff(self.request.retries), max_retries=None) from error


@shared_task(bind=True, acks_late=True, max_retries=20)
def sync_job_run(self, job_id: int) -> str:
    """Finish a job's MLflow run once MLflow answers again."""
    outcome = actions.sync_run(job_id)
    if outcome == "retry":
        raise self.retry(countdown=backoff(self.request.retries))
    return outcome


@shared_task
def reconcile_jobs() -> dict:
    return actions.reconcile()


@shared_task
def drain_queues() -> list[int]:
    return actions.drain_queues()
