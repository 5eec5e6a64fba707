"""Celery tasks of pipelines: thin, taking ids, over the engine (engine.py). Each is safe to run
twice: the engine claims rows under the run's lock and does nothing for a decided step."""

from celery import shared_task

from portal.errors import ServiceUnavailable
from portal.retry import WritingTask

from . import engine, notify, queue, schedules, waits


@shared_task(bind=True, base=WritingTask)
def submit_step(self, step_id: int) -> int | None:
    try:
        return engine.submit_step(step_id)
    except ServiceUnavailable as error:  # MLflow is down: the step stays claimed; try again
        raise self.retry(
            exc=error, countdown=min(10 * 2**self.request.retries, 300), max_retries=20
        ) from error


@shared_task(base=WritingTask)
def step_job_ended(job_id: int) -> str:
    return engine.job_ended(job_id)


@shared_task(base=WritingTask)
def finish_parent_run(run_id: int) -> None:
    engine.finish_parent_run(run_id)


@shared_task(base=WritingTask)
def advance_pipelines() -> int:
    return engine.repair()


@shared_task(base=WritingTask)
def tick_schedules() -> int:
    return len(schedules.tick())


@shared_task(bind=True, base=WritingTask)
def fire_schedule(self, schedule_id: int, due_at: str) -> str | None:
    try:
        event = schedules.fire(schedule_id, due_at)
    except ServiceUnavailable as error:  # MLflow is down: nothing was started; try again
        raise self.retry(
            exc=error, countdown=min(30 * 2**self.request.retries, 600), max_retries=5
        ) from error
    return event.outcome if event else None


@shared_task(base=WritingTask)
def notify_job(job_id: int) -> int:
    return len(notify.job_ended(job_id))


@shared_task(base=WritingTask)
def notify_run(run_id: int) -> int:
    return len(notify.run_ended(run_id))


@shared_task(base=WritingTask)
def notify_waits() -> int:
    """Tell users whose jobs or pipeline runs wait past their threshold (once each)."""
    return len(waits.tick())


@shared_task(base=WritingTask)
def deliver(delivery_id: int) -> None:
    """Send one notification; a failure worth retrying comes back later, with backoff."""
    countdown = notify.deliver(delivery_id)
    if countdown is not None:
        queue.send_deliver(delivery_id, countdown=countdown)


queue.install(
    deliver=deliver,
    notify_job=notify_job,
    notify_run=notify_run,
    submit_step=submit_step,
    step_job_ended=step_job_ended,
    finish_parent_run=finish_parent_run,
    fire_schedule=fire_schedule,
)
