"""The one place a job changes state: a conditional UPDATE from an allowed source state, and
its transition recorded with the time and a readable reason. If the UPDATE touched nothing,
another worker (or the watcher) got there first, and the caller does nothing more."""

from django.db import transaction
from django.utils import timezone

from . import signals
from .models import ALLOWED_FROM, TERMINAL, Job, JobStatus, JobTransition


def move_job(job_id: int, to: str, reason: str = "", *, only_from: set[str] | None = None, **fields) -> bool:
    """Move the job to ``to`` if its current state allows it; returns whether it moved."""
    sources = set(ALLOWED_FROM[to]) if only_from is None else set(only_from) & set(ALLOWED_FROM[to])
    now = timezone.now()
    if to in (JobStatus.PENDING, JobStatus.RUNNING):
        fields.setdefault("dispatched_at", fields.get("dispatched_at") or now)
    if to == JobStatus.RUNNING:
        fields.setdefault("started_at", now)
    if to in TERMINAL:
        fields.setdefault("finished_at", now)
    with transaction.atomic():
        if len(sources) == 1:
            # One possible source: the conditional UPDATE alone says whether (and from what) it moved.
            (previous,) = sources
            if not Job.objects.filter(pk=job_id, status=previous).update(
                status=to, status_reason=reason, **fields
            ):
                return False
        else:
            previous = (
                Job.objects.select_for_update()
                .filter(pk=job_id, status__in=sources)
                .values_list("status", flat=True)
                .first()
            )
            if previous is None:
                return False
            Job.objects.filter(pk=job_id).update(status=to, status_reason=reason, **fields)
        JobTransition.objects.create(job_id=job_id, from_status=previous, to_status=to, reason=reason, at=now)
        # Other apps (pipelines, sweeps, notifications) hear of it once the move is committed.
        transaction.on_commit(lambda: signals.announce(job_id, previous, to))
    return True
