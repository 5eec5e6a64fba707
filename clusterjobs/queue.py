"""What the job modules hand to the workers: the dispatch of an admitted job, a run to finish later.

The tasks (tasks.py) run these modules, and the modules enqueue tasks, so one side must not import
the other: a task is sent here as a Celery signature of its name, a constant of this module that
tasks.py registers the task under (tests/clusterjobs/test_queue.py checks each one is). Celery
resolves a signature to the registered task, so sending one is the task's own ``apply_async``.
"""

import logging

from portal.celery import app as celery_app

from . import admission

log = logging.getLogger(__name__)

DISPATCH_JOB = "clusterjobs.tasks.dispatch_job"
SYNC_JOB_RUN = "clusterjobs.tasks.sync_job_run"
RECONCILE_JOBS = "clusterjobs.tasks.reconcile_jobs"
DRAIN_QUEUES = "clusterjobs.tasks.drain_queues"
TASKS = (DISPATCH_JOB, SYNC_JOB_RUN, RECONCILE_JOBS, DRAIN_QUEUES)


def send(name: str, *args, countdown: int = 0) -> bool:
    """Enqueue the task ``name`` with ``args``; returns whether the broker took it. A lost message is
    repaired by the periodic tasks (the drain dispatches jobs again, a run's end is retried), so a
    broker that is down is logged, not raised."""
    try:
        celery_app.signature(name, args=args).apply_async(countdown=countdown)
    except Exception:
        log.exception("could not enqueue %s%s", name, args)
        return False
    return True


def admit_and_dispatch(project_id: int | None = None) -> list[int]:
    """Admit the queued jobs that fit (across projects, fairly: see admission.admit_all) and
    enqueue their dispatch. A lost enqueue is repaired by the periodic drain (the job stays
    ``dispatching`` without a claim: dispatch.redispatch_lost)."""
    admitted = admission.admit(project_id)
    for job_id in admitted:
        send(DISPATCH_JOB, job_id)
    return admitted
