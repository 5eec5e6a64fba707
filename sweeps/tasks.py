"""Celery tasks of sweeps: thin wrappers over ``runner``, taking ids."""

from celery import shared_task

from portal.retry import WritingTask

from . import queue, runner


@shared_task(base=WritingTask)
def advance_sweep(sweep_id: int) -> str:
    return runner.advance(sweep_id)


@shared_task(base=WritingTask)
def advance_sweeps() -> int:
    """Periodic: sweeps whose last message was lost move on anyway."""
    return runner.advance_all()


queue.install(advance_sweep)
