"""What the job modules hand to the workers: the dispatch of an admitted job, a run to finish later.

The tasks (tasks.py) run the job modules (dispatch.py, sync.py), and those modules enqueue tasks,
so they must not import tasks.py: tasks.py hands its task objects to ``install`` when it is
imported (``ClusterjobsConfig.ready`` imports it in every process), and the modules send through
``send_dispatch`` and ``send_sync_run``. No task is looked up by its name.
"""

import logging

from celery import Task

from . import admission

log = logging.getLogger(__name__)

# Most admitted jobs one dispatch task takes at once (dispatch.dispatch_many): the database work
# of a dispatch is done once per batch, and a burst of admissions still spreads over the workers.
DISPATCH_BATCH = 20


class _Installed:
    dispatch_job: Task | None = None
    dispatch_jobs: Task | None = None
    sync_job_run: Task | None = None
    check_gpu_use: Task | None = None


installed = _Installed()


def install(
    *,
    dispatch_job: Task,
    sync_job_run: Task,
    dispatch_jobs: Task | None = None,
    check_gpu_use: Task | None = None,
) -> None:
    installed.dispatch_job = dispatch_job
    installed.dispatch_jobs = dispatch_jobs
    installed.sync_job_run = sync_job_run
    installed.check_gpu_use = check_gpu_use


def _send(task: Task | None, what: str, args: tuple, countdown: float = 0) -> bool:
    """Enqueue ``task``; returns whether the broker took it. A lost message is repaired by the
    periodic tasks (the drain dispatches jobs again, a run's end is retried), so a broker that is
    down is logged, not raised."""
    try:
        if task is None:
            raise RuntimeError("clusterjobs.tasks is not imported: its tasks are not installed")
        task.apply_async(args=args, countdown=countdown)
    except Exception:
        log.exception("could not enqueue %s%s", what, args)
        return False
    return True


def send_dispatch(job_id: int, *, countdown: float = 0) -> bool:
    return _send(installed.dispatch_job, "dispatch_job", (job_id,), countdown)


def send_dispatches(job_ids: list[int], batch: int = DISPATCH_BATCH) -> None:
    """The dispatch of many admitted jobs: one task per ``batch`` of them (dispatch_jobs), one
    dispatch_job for a job alone."""
    for start in range(0, len(job_ids), batch):
        chunk = job_ids[start : start + batch]
        if len(chunk) == 1:
            send_dispatch(chunk[0])
        else:
            _send(installed.dispatch_jobs, "dispatch_jobs", (chunk,))


def send_sync_run(job_id: int, *, countdown: float = 0) -> bool:
    return _send(installed.sync_job_run, "sync_job_run", (job_id,), countdown)


def send_gpu_check(job_id: int) -> bool:
    return _send(installed.check_gpu_use, "check_gpu_use", (job_id,))


def admit_and_dispatch() -> list[int]:
    """Admit the queued jobs that fit (across projects, fairly: see admission.admit_all) and
    enqueue their dispatch. A lost enqueue is repaired by the periodic drain (the job stays
    ``dispatching`` without a claim: dispatch.redispatch_lost)."""
    admitted = admission.admit()
    send_dispatches(admitted)
    return admitted
