"""The API's rate limit per user (``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["user"]``)."""

import time
import weakref

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache
from rest_framework import throttling


class UserRateThrottle(throttling.UserRateThrottle):
    """DRF's per-user rate, counted in fixed windows: one counter per user and window.

    DRF's own throttle keeps every request's time in one cached list, read and written whole on each
    request: at the default 10,000 an hour, a busy client's every call moved a list of up to 10,000
    floats both ways. Here a call costs one round trip on Redis (a script: ``INCR``, and
    ``EXPIRE`` on a window's first count), whatever the rate. A client may use up one window's budget at its end and the next one's
    at its start, as with any fixed window; the rate still bounds each window.
    """

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        now = time.time()
        window = int(now // self.duration)
        self.window_ends = (window + 1) * self.duration
        count = count_in_window(f"{self.key}:{window}", self.duration)
        return count <= self.num_requests

    def wait(self) -> float:
        return max(1.0, self.window_ends - time.time())


# One round trip, atomic, and no redis-py pipeline (whose every construction copies a dict of some
# 170 response callbacks): the first count of a window starts its expiry. A second key, when given,
# is read in the same round trip.
_COUNT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if KEYS[2] then return {count, redis.call('GET', KEYS[2])} end
return {count}
"""


# One redis-py client per cache backend, kept as long as the backend: Django's builds a new one
# on every call (``get_client``), and each construction copies the same ~170 response
# callbacks, which was over half of the throttle's time (bench/bench_projects_api.py). A client
# takes a connection from its backend's pool for each command, as a new one would.
_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _redis_client(backend: RedisCache):
    client = _clients.get(backend._cache)
    if client is None:
        client = _clients[backend._cache] = backend._cache.get_client(write=True)
    return client


def count_in_window(key: str, seconds: int) -> int:
    """Add one to ``key``, which lives ``seconds`` from its first count; the count after it."""
    return count_and_get(key, seconds)[0]


def count_and_get(key: str, seconds: int, other: str | None = None):
    """``count_in_window(key, seconds)`` and the cached value of ``other`` (None without one), in
    one round trip on Redis; the count and the value."""
    backend = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(backend, RedisCache):
        keys = [backend.make_and_validate_key(name) for name in (key, other) if name is not None]
        count, *read = _redis_client(backend).eval(_COUNT, len(keys), *keys, seconds + 1)
        raw = read[0] if read else None
        return count, None if raw is None else backend._cache._serializer.loads(raw)
    return _count_elsewhere(backend, key, seconds), None if other is None else backend.get(other)


def _count_elsewhere(backend, key: str, seconds: int) -> int:
    # The embedded default's file cache: no atomic increment, so concurrent calls may undercount.
    if backend.add(key, 1, timeout=seconds + 1):
        return 1
    try:
        return backend.incr(key)
    except ValueError:  # expired between the two calls
        backend.add(key, 1, timeout=seconds + 1)
        return 1
