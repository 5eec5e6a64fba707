"""What other apps may listen to: a job changed state.

``job_moved`` is sent once per transition, after the transaction that made it commits, with
``job_id``, ``from_status`` and ``to_status``. It may be sent from a web request, a Celery worker or
the watcher, so a receiver must be quick: record what it needs or send a Celery task, never call
the cluster, MLflow or the network itself. A receiver that raises is logged and does not stop the
others (``send_robust``), so one app's bug cannot undo or delay another's work.
"""

import logging

from django.dispatch import Signal

log = logging.getLogger(__name__)

job_moved = Signal()


def announce(job_id: int, from_status: str, to_status: str) -> None:
    from .models import Job

    for receiver, outcome in job_moved.send_robust(
        sender=Job, job_id=job_id, from_status=from_status, to_status=to_status
    ):
        if isinstance(outcome, Exception):
            log.error(
                "job %s %s -> %s: receiver %r failed: %r", job_id, from_status, to_status, receiver, outcome
            )
