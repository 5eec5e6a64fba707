"""The one place a job changes state: a conditional UPDATE from an allowed source state, and
its transition recorded with the time and a readable reason. If the UPDATE touched nothing,
another worker (or the watcher) got there first, and the caller does nothing more."""

import functools

from django.db import transaction
from django.utils import timezone

from portal.rows import update_each

from . import signals
from .models import ALLOWED_FROM, TERMINAL, Job, JobStatus, JobTransition


def _with_times(to: str, now, fields: dict) -> dict:
    """The fields a move to ``to`` writes: the given ones, and the times that state stamps."""
    if to in (JobStatus.PENDING, JobStatus.RUNNING):
        fields.setdefault("dispatched_at", fields.get("dispatched_at") or now)
    if to == JobStatus.RUNNING:
        fields.setdefault("started_at", now)
    if to in TERMINAL:
        fields.setdefault("finished_at", now)
    return fields


def move_job(job_id: int, to: str, reason: str = "", *, only_from: set[str] | None = None, **fields) -> bool:
    """Move the job to ``to`` if its current state allows it; returns whether it moved."""
    sources = set(ALLOWED_FROM[to]) if only_from is None else set(only_from) & set(ALLOWED_FROM[to])
    now = timezone.now()
    fields = _with_times(to, now, fields)
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


def move_jobs(moves: dict[int, tuple[str, dict]], to: str, source: str) -> set[int]:
    """``move_job`` for many jobs at once, all from one state: each job (id -> its reason and
    fields, the same fields for all) still in ``source`` moves to ``to``, in one transaction of
    three statements however many they are. Returns the ids that moved."""
    if source not in ALLOWED_FROM[to]:
        raise ValueError(f"a job does not move from {source} to {to}")
    now = timezone.now()
    with transaction.atomic():
        moved = update_each(
            Job,
            {
                pk: {"status_reason": reason, **_with_times(to, now, dict(fields))}
                for pk, (reason, fields) in moves.items()
            },
            same={"status": to},
            where={"status": source},
        )
        if not moved:
            return set()
        JobTransition.objects.bulk_create(
            JobTransition(job_id=pk, from_status=source, to_status=to, reason=moves[pk][0], at=now)
            for pk in moved
        )
        for pk in moved:
            transaction.on_commit(functools.partial(signals.announce, pk, source, to))
    return set(moved)
