"""What the portal's processes note for the operators' metrics, in the cache that they all share
(Redis in production, files under var/ on the embedded default), so that any web worker answers
``/metrics`` with what the Celery workers and the watcher saw, without Prometheus' multiprocess
mode. Shared piece: imports no app. The ``monitoring`` app reads these notes; the apps write them.

Every note is best effort: a cache that is down never fails the call being measured.
"""

import logging
import time

from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.redis import RedisCache

log = logging.getLogger(__name__)

PREFIX = "taller:observe"
# Upper bounds (seconds) of the MLflow call latency histogram; the last bucket is +Inf.
CALL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CALL_KINDS = ("rest", "client")
ERROR_KINDS = ("unreachable", "server")


def _add(key: str, delta: int) -> None:
    """Add to a counter that never expires (atomic on Redis; the file cache may lose a count under
    concurrent writes, which the embedded default accepts)."""
    try:
        cache.incr(key, delta)
    except ValueError:  # not there yet
        if not cache.add(key, delta, timeout=None):
            cache.incr(key, delta)


def _add_many(deltas: dict[str, int]) -> None:
    """Add to several counters at once: one pipelined round trip on Redis (INCRBY makes a missing
    counter, and Django's Redis cache stores integers as they are, so ``get`` reads them back),
    where counter by counter Django's ``incr`` takes two round trips each."""
    backend = caches[DEFAULT_CACHE_ALIAS]  # `cache` is a proxy: ask what it stands for
    if isinstance(backend, RedisCache):
        keys = {backend.make_and_validate_key(key): delta for key, delta in deltas.items()}
        pipeline = backend._cache.get_client(write=True).pipeline(transaction=False)
        for key, delta in keys.items():
            pipeline.incrby(key, delta)
        pipeline.execute()
        return
    for key, delta in deltas.items():
        _add(key, delta)


def _bucket(seconds: float) -> str:
    for bound in CALL_BUCKETS:
        if seconds <= bound:
            return str(bound)
    return "+Inf"


def call_done(kind: str, seconds: float, error: str = "") -> None:
    """One call to MLflow of ``kind`` ("rest": the gateway's REST session; "client": MLflow's
    client) took ``seconds``; ``error`` is "unreachable" or "server" (a 5xx) when it failed."""
    try:
        deltas = {
            f"{PREFIX}:mlflow:{kind}:bucket:{_bucket(seconds)}": 1,
            f"{PREFIX}:mlflow:{kind}:micros": max(int(seconds * 1_000_000), 0),
        }
        if error:
            deltas[f"{PREFIX}:mlflow:{kind}:errors:{error}"] = 1
        _add_many(deltas)
    except Exception:  # noqa: BLE001 - a metric never fails the call it measures
        log.warning("could not note an MLflow call for the metrics", exc_info=True)


def calls() -> dict[str, dict]:
    """Per kind: ``{"buckets": {bound: count (not cumulative)}, "seconds": total, "errors": {kind: n}}``."""
    bounds = [str(bound) for bound in CALL_BUCKETS] + ["+Inf"]
    keys = {}
    for kind in CALL_KINDS:
        keys.update({f"{PREFIX}:mlflow:{kind}:bucket:{bound}": (kind, "bucket", bound) for bound in bounds})
        keys[f"{PREFIX}:mlflow:{kind}:micros"] = (kind, "micros", "")
        keys.update(
            {f"{PREFIX}:mlflow:{kind}:errors:{error}": (kind, "error", error) for error in ERROR_KINDS}
        )
    found = cache.get_many(list(keys))
    result = {
        kind: {"buckets": dict.fromkeys(bounds, 0), "seconds": 0.0, "errors": dict.fromkeys(ERROR_KINDS, 0)}
        for kind in CALL_KINDS
    }
    for key, value in found.items():
        kind, what, name = keys[key]
        if what == "bucket":
            result[kind]["buckets"][name] = int(value)
        elif what == "micros":
            result[kind]["seconds"] = int(value) / 1_000_000
        else:
            result[kind]["errors"][name] = int(value)
    return result


WATCHERS = f"{PREFIX}:watchers"


def _note_watcher(backend: str, note: dict) -> None:
    # One watcher runs per site, so this read-then-write has no other writer to race.
    try:
        notes = cache.get(WATCHERS) or {}
        notes[backend] = {**notes.get(backend, {}), **note}
        cache.set(WATCHERS, notes, timeout=None)
    except Exception:  # noqa: BLE001 - a metric never stops the watcher
        log.warning("could not note the watcher's progress for the metrics", exc_info=True)


def watcher_started(backend: str, at: float | None = None) -> None:
    """The watcher of ``backend`` (re)opened its stream."""
    _note_watcher(backend, {"started_at": time.time() if at is None else at})


def watcher_applied(backend: str, lag_seconds: float | None, at: float | None = None) -> None:
    """The watcher of ``backend`` applied a status; ``lag_seconds``, when the status moved a job
    and carries the backend's time of the change, is how long after that change."""
    at = time.time() if at is None else at
    note = {"applied_at": at}
    if lag_seconds is not None:
        note["lag_seconds"] = max(lag_seconds, 0.0)
    _note_watcher(backend, note)


def watchers() -> dict[str, dict]:
    """``{backend: {"started_at", "applied_at", "lag_seconds"}}`` for each watcher seen."""
    return cache.get(WATCHERS) or {}
