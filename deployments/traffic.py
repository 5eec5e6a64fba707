"""What the serving path records: per deployment and minute, calls, errors and a latency
histogram (``TrafficMinute``), and the percentiles read back from it.

Each process adds its calls up in memory and writes them at most every
TALLER_SERVE_FLUSH_SECONDS (one UPDATE with F() additions per deployment and minute, or an
INSERT for a new minute), so a call costs no query of its own."""

import threading
import time
from bisect import bisect_left
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from .models import BUCKETS, LATENCY_EDGES_MS, TrafficMinute

_lock = threading.Lock()
_pending: dict[tuple[int, datetime], list[int]] = defaultdict(lambda: [0] * (BUCKETS + 2))
_last_flush = [time.monotonic()]


def bucket_of(seconds: float) -> int:
    return bisect_left(LATENCY_EDGES_MS, seconds * 1000)


def record(deployment_id: int, *, ok: bool, seconds: float) -> None:
    minute = timezone.now().replace(second=0, microsecond=0)
    with _lock:
        counts = _pending[(deployment_id, minute)]
        counts[0] += 1
        counts[1] += 0 if ok else 1
        counts[2 + bucket_of(seconds)] += 1
        due = time.monotonic() - _last_flush[0] >= settings.TALLER_SERVE_FLUSH_SECONDS
    if due:
        flush()


def flush() -> None:
    with _lock:
        taken = dict(_pending)
        _pending.clear()
        _last_flush[0] = time.monotonic()
    for (deployment_id, minute), counts in taken.items():
        added = {"requests": counts[0], "errors": counts[1]}
        added.update({f"l{i}": counts[2 + i] for i in range(BUCKETS)})
        increments = {name: F(name) + value for name, value in added.items() if value}
        rows = TrafficMinute.objects.filter(deployment_id=deployment_id, minute=minute)
        if rows.update(**increments):
            continue
        try:
            with transaction.atomic():
                TrafficMinute.objects.create(deployment_id=deployment_id, minute=minute, **added)
        except IntegrityError:  # another process wrote the minute first
            rows.update(**increments)


def percentile(histogram: list[int], fraction: float) -> float | None:
    """The upper edge (ms) of the bucket where ``fraction`` of the calls are reached (the slowest
    bucket has no edge: its lower one, the most that can be said)."""
    total = sum(histogram)
    if not total:
        return None
    reached = 0
    for index, count in enumerate(histogram):
        reached += count
        if reached >= fraction * total:
            return float(LATENCY_EDGES_MS[min(index, len(LATENCY_EDGES_MS) - 1)])
    return float(LATENCY_EDGES_MS[-1])


def series(deployment_id: int, minutes: int = 60, now: datetime | None = None) -> list[dict]:
    """The last ``minutes`` minutes, one row each (minutes without calls included, as zeros)."""
    now = (now or timezone.now()).replace(second=0, microsecond=0)
    start = now - timedelta(minutes=minutes - 1)
    rows = {
        row.minute: row
        for row in TrafficMinute.objects.filter(deployment_id=deployment_id, minute__gte=start)
    }
    points = []
    for step in range(minutes):
        minute = start + timedelta(minutes=step)
        row = rows.get(minute)
        histogram = row.histogram() if row else [0] * BUCKETS
        points.append(
            {
                "minute": minute,
                "requests": row.requests if row else 0,
                "errors": row.errors if row else 0,
                "p50_ms": percentile(histogram, 0.5),
                "p95_ms": percentile(histogram, 0.95),
                "p99_ms": percentile(histogram, 0.99),
            }
        )
    return points


def totals(deployment_id: int, since: datetime) -> dict:
    """Calls, errors and percentiles since ``since``, summed in the database (one query)."""
    sums = {f"l{i}": Sum(f"l{i}") for i in range(BUCKETS)}
    row = TrafficMinute.objects.filter(deployment_id=deployment_id, minute__gte=since).aggregate(
        requests=Sum("requests"), errors=Sum("errors"), **sums
    )
    histogram = [row[f"l{i}"] or 0 for i in range(BUCKETS)]
    return {
        "requests": row["requests"] or 0,
        "errors": row["errors"] or 0,
        "p50_ms": percentile(histogram, 0.5),
        "p95_ms": percentile(histogram, 0.95),
        "p99_ms": percentile(histogram, 0.99),
    }


def prune(now: datetime | None = None) -> int:
    """Forget the minutes older than TALLER_SERVE_TRAFFIC_DAYS (the table stays bounded in time
    too); returns how many rows went."""
    before = (now or timezone.now()) - timedelta(days=settings.TALLER_SERVE_TRAFFIC_DAYS)
    deleted, _kinds = TrafficMinute.objects.filter(minute__lt=before).delete()
    return deleted
