"""What the pipeline modules hand to the workers. ``tasks.py`` runs the engine, and the engine
sends tasks, so the engine does not import ``tasks.py``: that module installs its task objects
here when it is imported (``PipelinesConfig.ready``). A lost message is repaired by the periodic
``advance_pipelines``."""

import logging

from celery import Task

log = logging.getLogger(__name__)


class _Installed:
    submit_step: Task | None = None
    step_job_ended: Task | None = None
    finish_parent_run: Task | None = None
    fire_schedule: Task | None = None
    deliver: Task | None = None
    notify_job: Task | None = None
    notify_run: Task | None = None


installed = _Installed()


def install(**tasks: Task) -> None:
    for name, task in tasks.items():
        setattr(installed, name, task)


def _send(name: str, args: tuple, countdown: float = 0) -> bool:
    task = getattr(installed, name)
    try:
        if task is None:
            raise RuntimeError("pipelines.tasks is not imported: its tasks are not installed")
        task.apply_async(args=args, countdown=countdown)
    except Exception:
        log.exception("could not enqueue %s%s", name, args)
        return False
    return True


def send_submit_step(step_id: int, countdown: float = 0) -> bool:
    return _send("submit_step", (step_id,), countdown)


def send_step_job_ended(job_id: int) -> bool:
    return _send("step_job_ended", (job_id,))


def send_finish_parent_run(run_id: int) -> bool:
    return _send("finish_parent_run", (run_id,))


def send_fire_schedule(schedule_id: int, due_at: str) -> bool:
    return _send("fire_schedule", (schedule_id, due_at))


def send_deliver(delivery_id: int, countdown: float = 0) -> bool:
    return _send("deliver", (delivery_id,), countdown)


def send_notify_job(job_id: int) -> bool:
    return _send("notify_job", (job_id,))


def send_notify_run(run_id: int) -> bool:
    return _send("notify_run", (run_id,))
