"""Tagging a reproduced job's run with the run that reproduced it, once that run exists: the
receiver of ``job_moved`` sends the task when a reproduction leaves ``dispatching`` (its run was
created by the dispatch), so nothing in the request or the watcher waits on MLflow."""

import logging

from celery import shared_task
from django.dispatch import receiver

from experiments import gateway
from portal.retry import WritingTask

from ..models import Job, JobStatus
from ..signals import job_moved
from .trail import REPRODUCED_BY

log = logging.getLogger(__name__)


@shared_task(bind=True, base=WritingTask)
def mark_reproduced_by(self, job_id: int) -> str:
    """Tag the original's run with ``taller.reproduced_by`` = the reproduction's run; retried
    while MLflow is down."""
    row = (
        Job.objects.filter(pk=job_id, reproduced_from__isnull=False)
        .values_list("mlflow_run_id", "reproduced_from__mlflow_run_id")
        .first()
    )
    if row is None or not all(row):
        return "nothing"
    new_run, old_run = row
    try:
        gateway.set_run_tags(old_run, {REPRODUCED_BY: new_run})
    except gateway.GatewayError as error:
        if error.status == 404:
            return "gone"
        raise self.retry(exc=error, countdown=30, max_retries=20) from error
    return "tagged"


@receiver(job_moved, dispatch_uid="clusterjobs.provenance.reproduction_started")
def reproduction_started(sender, job_id: int, from_status: str, to_status: str, **kwargs) -> None:
    if from_status != JobStatus.DISPATCHING:
        return
    if Job.objects.filter(pk=job_id, reproduced_from__isnull=False).exclude(mlflow_run_id="").exists():
        try:
            mark_reproduced_by.delay(job_id)
        except Exception:  # a broker that is down: the tag is a courtesy, logged, never raised
            log.exception("could not enqueue mark_reproduced_by(%s)", job_id)
