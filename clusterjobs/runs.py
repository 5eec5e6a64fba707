"""A job's MLflow run, started when the job goes to its backend: the dispatch creates it (one call
to MLflow) just before it submits the job, so that the run's start is the job's and the time the
job waited in the portal's queue stays outside the run, recorded on it as ``taller.queue_seconds``.
"""

import logging
from datetime import datetime

from django.utils.translation import gettext_noop

from experiments import gateway

from . import queue, sync
from .backends import BackendError
from .models import TERMINAL, Job
from .sources.record import run_inputs, run_tags

log = logging.getLogger(__name__)

# What other apps add to a job's run when the dispatch creates it: ``provider(job)`` gives
# ``(tags, params)`` or None (a sweep's trial: its parent run, its trial number and parameters).
# Apps register theirs in ``AppConfig.ready``; a job with no additions costs no query or call more.
_ADDITIONS: list = []


def add_to_runs(provider) -> None:
    """Register ``provider(job) -> (tags, params) | None`` for every job run created from now on."""
    _ADDITIONS.append(provider)


def _additions(job: Job) -> tuple[dict[str, str], dict[str, str]]:
    tags, params = dict(run_tags(job)), {}
    for provider in _ADDITIONS:
        added = provider(job)
        if added:
            tags |= added[0]
            params |= added[1]
    return tags, params


def start_tags(job: Job, started: datetime) -> dict[str, str]:
    """What the run records of the time before it: when the job was submitted and how long it
    waited since (the quota, the queue, the dispatch)."""
    waited = max((started - job.created_at).total_seconds(), 0.0)
    return {"taller.submitted_at": job.created_at.isoformat(), "taller.queue_seconds": f"{waited:.0f}"}


def start_run(job: Job, started: datetime, *, retried: bool) -> bool:
    """Create the run of a job that has none yet (a job with no experiment has no run), started at
    ``started``, and record it on the job, before the job gets its environment. A ``retried``
    dispatch first looks for the run an earlier attempt created but did not record, so a retry
    never makes a second one.

    Raises BackendError when MLflow fails (retried while MLflow is unavailable: the job is not
    created on its backend without its run). Returns False when the job ended meanwhile (a
    cancel): its run is then ended with it."""
    if job.mlflow_run_id or not job.mlflow_experiment_id:
        return True
    try:
        run_id = gateway.find_job_run(job.mlflow_experiment_id, job.pk) if retried else ""
        if not run_id:
            tags, params = _additions(job)
            run_id = gateway.start_job_run(
                job.project.slug,
                job.mlflow_experiment_id,
                job.pk,
                f"{job.name} (job {job.pk})",
                job.submitter.username,
                start_time_ms=int(started.timestamp() * 1000),
                tags={**tags, **start_tags(job, started)},
            )
            if params:
                gateway.log_params(run_id, params)
        if inputs := run_inputs(job):  # its DVC data (again on a retry: MLflow adds nothing twice)
            gateway.log_dataset_inputs(run_id, inputs)
    except gateway.GatewayError as error:
        raise BackendError(
            gettext_noop("MLflow could not create the job's run: %(error)s") % {"error": error},
            permanent=not error.retryable,
        ) from error
    Job.objects.filter(pk=job.pk, mlflow_run_id="").update(mlflow_run_id=run_id)
    job.mlflow_run_id = Job.objects.filter(pk=job.pk).values_list("mlflow_run_id", flat=True).get()
    if Job.objects.filter(pk=job.pk, status__in=TERMINAL).exists():
        # Its end found no run to finish: finish it now (a task retries while MLflow is down).
        if sync.sync_run(job.pk) == "retry":
            queue.send_sync_run(job.pk, countdown=30)
        return False
    return True
