"""Sweeps hear of their trials' jobs through ``clusterjobs.signals.job_moved``: a job that leaves
the queue (a slot may be free for the next trial) or ends (its objective to read). The receiver
only looks the trial up by its job and sends the task."""

from clusterjobs.models import TERMINAL, JobStatus

from . import queue
from .models import Trial


def job_moved(sender, *, job_id: int, from_status: str, to_status: str, **kwargs) -> None:
    if from_status != JobStatus.QUEUED and to_status not in TERMINAL:
        return
    sweep_id = Trial.objects.filter(job_id=job_id).values_list("sweep_id", flat=True).first()
    if sweep_id is not None:
        queue.send_advance(sweep_id)
