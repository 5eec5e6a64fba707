"""Listening to jobs: a job's end is handed to a Celery task (``clusterjobs.signals.job_moved``
may come from a request, a worker or the watcher, so nothing slow happens here). The task finds
whether the job is a pipeline step at all; another who is to be told of its end."""

from django.dispatch import receiver

from clusterjobs.models import TERMINAL
from clusterjobs.signals import job_moved

from . import queue


@receiver(job_moved, dispatch_uid="pipelines.step_job_moved")
def step_job_moved(sender, job_id: int, from_status: str, to_status: str, **kwargs) -> None:
    if to_status in TERMINAL:
        queue.send_step_job_ended(job_id)
        queue.send_notify_job(job_id)
