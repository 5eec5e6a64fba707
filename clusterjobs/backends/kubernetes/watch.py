"""Following the cluster: one list+watch stream per kind (the portal's Jobs, their Pods, the
FailedCreate events of Jobs) across namespaces, each in a thread of its own feeding one queue, and
the cache of all three from which each job's status is recomputed when something of it changes.

Each stream lists (in pages), then watches from the list's resourceVersion; after a dropped or
ended stream it resumes from the last resourceVersion seen (an event's or a bookmark's), and lists
again when the server says 410 Gone. Only ``records`` of the objects are kept (a few KiB per job),
and statuses wait until every kind has been listed once. A
failed attempt waits 0.5 s, doubling up to WATCH_MAX_BACKOFF_SECONDS, and a list or an event that
arrives starts again from 0.5 s: after an API server restart the stream is back within seconds.
"""

from __future__ import annotations

import logging
import queue
import re
import socket
import threading
import time
from collections.abc import Callable, Generator, Iterator

import orjson
from django.conf import settings
from django.utils.translation import gettext_noop
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from ..base import BackendStatus
from .calls import TRANSPORT_ERRORS, read
from .manifests import LABEL_JOB, job_name
from .records import record
from .status import job_status

logger = logging.getLogger(__name__)

JOB_NAME = re.compile(r"^taller-(\d+)$")
# A failed attempt waits 0.5 s, doubling up to 5 s; a status the portal could not save is tried
# again every 2 s.
WATCH_MIN_BACKOFF_SECONDS = 0.5
WATCH_MAX_BACKOFF_SECONDS = 5.0
WATCH_RETRY_SECONDS = 2.0
# At the start, statuses wait (at most this long) until every kind has been listed once.
HOLD_SECONDS = 10.0

# (kind, the client's list method across namespaces, its selector)
Stream = tuple[str, Callable, dict]


def follow(
    streams: list[Stream], stop: threading.Event, timeout: tuple[float, float], watch_seconds: int
) -> Generator[BackendStatus, bool | None, None]:
    """Statuses as they change, until ``stop`` is set: each of ``streams`` followed in a thread,
    each request bounded by ``timeout`` and each watch request re-issued after ``watch_seconds``.

    The consumer sends back False for a status it could not save: that status is not taken
    as seen, and is yielded again (as the cluster then shows the job) every
    WATCH_RETRY_SECONDS until it is saved or superseded."""
    changes: queue.Queue = queue.Queue()
    done = threading.Event()
    followers = [_Follower(kind, call, selector) for kind, call, selector in streams]
    threads = [
        threading.Thread(
            target=follower.run,
            args=(changes, stop, done, timeout, watch_seconds),
            name=f"taller-watch-{follower.kind}",
            daemon=True,
        )
        for follower in followers
    ]
    for thread in threads:
        thread.start()
    cache = Cache(held=[follower.kind for follower in followers])
    retry_at = time.monotonic() + WATCH_RETRY_SECONDS
    try:
        while not stop.is_set():
            try:
                statuses = cache.apply(*changes.get(timeout=0.5))
            except queue.Empty:
                statuses = cache.release() if cache.held_too_long() else []
            if cache.unsaved and time.monotonic() >= retry_at:
                statuses += cache.retry()
                retry_at = time.monotonic() + WATCH_RETRY_SECONDS
            for status in statuses:
                if (yield status) is False:
                    cache.failed(status)
                else:
                    cache.saved(status)
    finally:
        done.set()
        for follower in followers:
            follower.interrupt()
        for thread in threads:
            thread.join(timeout=5)


class _Follower:
    """One stream: list, then watch, resume, list again (see the module's docstring). Lists and
    watch events are read as JSON (no client model objects), and only their ``records`` reach the
    queue: a list is read a page at a time, so that the whole of it is never held at once."""

    def __init__(self, kind: str, list_call: Callable, selector: dict) -> None:
        self.kind = kind
        self.list_call = list_call
        self.selector = selector
        self.response = None  # the open watch response, cut by interrupt()
        self.interrupted = False

    def interrupt(self) -> None:
        """End the watch now: its read, blocked until the next event, fails at once."""
        self.interrupted = True
        connection = getattr(self.response, "connection", None)
        sock = getattr(connection, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def listing(self, timeout: tuple[float, float]) -> tuple[str, list[dict]]:
        """The records of every object the stream selects, and the list's resourceVersion."""
        records: list[dict] = []
        token, version = None, None
        while True:
            page = read(
                self.list_call(
                    **self.selector,
                    limit=int(settings.TALLER_K8S_LIST_PAGE_SIZE),
                    _continue=token,
                    _request_timeout=timeout,
                    _preload_content=False,
                )
            )
            meta = page.get("metadata") or {}
            version = version or meta["resourceVersion"]  # each page carries the first page's
            records += [record(self.kind, obj) for obj in page.get("items") or []]
            token = meta.get("continue")
            if not token:
                return version, records

    def events(self, version: str, timeout: tuple[float, float], watch_seconds: int) -> Iterator[dict]:
        """The events of one watch request from ``version``; an ERROR event (410 Gone after the
        server forgot ``version``) raised as the ApiException the client raises for an answer."""
        self.response = self.list_call(
            **self.selector,
            watch=True,
            resource_version=version,
            allow_watch_bookmarks=True,
            timeout_seconds=watch_seconds,
            _request_timeout=(timeout[0], watch_seconds + timeout[1]),
            _preload_content=False,
        )
        try:
            for line in iter_resp_lines(self.response):
                if not line:
                    continue
                event = orjson.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object") or {}
                    raise ApiException(
                        status=status.get("code"), reason=f"{status.get('reason')}: {status.get('message')}"
                    )
                yield event
        finally:
            response, self.response = self.response, None
            response.close()
            response.release_conn()

    def run(
        self,
        changes: queue.Queue,
        stop: threading.Event,
        done: threading.Event,
        timeout: tuple[float, float],
        watch_seconds: int,
    ) -> None:
        version: str | None = None
        delay = WATCH_MIN_BACKOFF_SECONDS

        def stopped() -> bool:
            return stop.is_set() or done.is_set() or self.interrupted

        while not stopped():
            try:
                if version is None:
                    version, records = self.listing(timeout)
                    changes.put(("SYNC", self.kind, records))
                    delay = WATCH_MIN_BACKOFF_SECONDS
                for event in self.events(version, timeout, watch_seconds):
                    obj = event.get("object") or {}
                    # A BOOKMARK carries only a resourceVersion to resume from.
                    version = (obj.get("metadata") or {}).get("resourceVersion") or version
                    if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                        changes.put((event["type"], self.kind, record(self.kind, obj)))
                    delay = WATCH_MIN_BACKOFF_SECONDS
                    if stopped():
                        break
                delay = WATCH_MIN_BACKOFF_SECONDS
            except ApiException as exc:
                if exc.status == 410:
                    logger.info("watch of %s: resourceVersion %s is gone, listing again", self.kind, version)
                    version = None
                    continue
                logger.warning("watch of %s failed: %s", self.kind, exc)
                stop.wait(delay)
                delay = min(delay * 2, WATCH_MAX_BACKOFF_SECONDS)
            except (*TRANSPORT_ERRORS, ValueError) as exc:
                if stopped():
                    break
                logger.info("watch of %s dropped (%s); reconnecting from %s", self.kind, exc, version)
                stop.wait(delay)
                delay = min(delay * 2, WATCH_MAX_BACKOFF_SECONDS)


def _job_key(namespace: str, labels: dict | None, name: str = "") -> tuple[str, int] | None:
    value = (labels or {}).get(LABEL_JOB)
    if value is None:
        match = JOB_NAME.match(name)
        value = match.group(1) if match else None
    try:
        return (namespace, int(value)) if value is not None else None
    except ValueError:
        return None


class Cache:
    """What the watcher knows of the portal's Jobs, Pods and FailedCreate events (their
    ``records``), and which status of each job the portal has saved (``last``) or failed to save
    (``unsaved``)."""

    def __init__(self, held: list[str] = ()) -> None:
        # The kinds whose first list has not come yet: no status is computed until they have,
        # or until HOLD_SECONDS have passed (``held_too_long``); ``touched`` keeps the jobs seen meanwhile.
        self.held = set(held)
        self.hold_until = time.monotonic() + HOLD_SECONDS
        self.touched: set[tuple[str, int]] = set()
        self.jobs: dict[tuple[str, int], dict] = {}
        self.pods: dict[tuple[str, int], dict[str, dict]] = {}
        self.events: dict[tuple[str, int], dict[str, dict]] = {}
        self.last: dict[tuple[str, int], BackendStatus] = {}
        self.unsaved: set[tuple[str, int]] = set()

    def key(self, kind: str, obj: dict) -> tuple[str, int] | None:
        meta = obj.get("metadata") or {}
        if kind == "events":
            involved = obj.get("involvedObject") or {}
            return _job_key(
                involved.get("namespace") or meta.get("namespace", ""), None, involved.get("name", "")
            )
        return _job_key(meta.get("namespace", ""), meta.get("labels"))

    def put(self, kind: str, change: str, obj: dict) -> tuple[str, int] | None:
        key = self.key(kind, obj)
        if key is None:
            return None
        name = obj["metadata"]["name"]
        if kind == "jobs":
            if change == "DELETED":
                self.jobs.pop(key, None)
            else:
                self.jobs[key] = obj
        else:
            store = self.pods if kind == "pods" else self.events
            if change == "DELETED":
                objects = store.get(key, {})
                objects.pop(name, None)
                if not objects:
                    store.pop(key, None)
            else:
                store.setdefault(key, {})[name] = obj
        return key

    def apply(self, change: str, kind: str, payload) -> list[BackendStatus]:
        if change == "SYNC":
            store = {"jobs": self.jobs, "pods": self.pods, "events": self.events}[kind]
            touched = set(store)
            store.clear()
            for obj in payload:
                touched.add(self.put(kind, "ADDED", obj))
        else:
            touched = {self.put(kind, change, payload)}
        touched.discard(None)
        if self.held:
            # Until every kind is listed, a job's status would be read without its Pods (a
            # "waiting for the pod" for each running job, then its "running" again).
            if change == "SYNC":
                self.held.discard(kind)
            self.touched |= touched
            if self.held and not self.held_too_long():
                return []
            return self.release()
        return self._statuses(touched)

    def held_too_long(self) -> bool:
        """Whether some kind is still not listed after HOLD_SECONDS (it may be refused for good,
        an event list forbidden to the portal: the others are followed without it)."""
        return bool(self.held) and time.monotonic() >= self.hold_until

    def release(self) -> list[BackendStatus]:
        """The statuses of the jobs held while the first lists came in."""
        self.held.clear()
        touched, self.touched = self.touched, set()
        return self._statuses(touched)

    def _statuses(self, keys: set[tuple[str, int]]) -> list[BackendStatus]:
        return [status for key in sorted(keys) if (status := self._status(key)) is not None]

    def retry(self) -> list[BackendStatus]:
        """The statuses the portal failed to save, as the cluster shows those jobs now."""
        keys, self.unsaved = sorted(self.unsaved), set()
        return [status for key in keys if (status := self._status(key)) is not None]

    def saved(self, status: BackendStatus) -> None:
        key = _status_key(status)
        self.unsaved.discard(key)
        self.last[key] = status

    def failed(self, status: BackendStatus) -> None:
        self.unsaved.add(_status_key(status))

    def survey_status(self, key: tuple[str, int]) -> BackendStatus:
        """The status of a job from a complete listing (reconcile), with how many Pods it has."""
        job = self.jobs.get(key)
        pods = list(self.pods.get(key, {}).values())
        if job is None:
            status = BackendStatus(key[1], "missing", gettext_noop("the job is not on the cluster"))
            status.extra = {"namespace": key[0], "name": job_name(key[1])}
        else:
            status = job_status(key[1], job, pods, list(self.events.get(key, {}).values()))
        status.extra["pods"] = len(pods)
        return status

    def _status(self, key: tuple[str, int]) -> BackendStatus | None:
        """The job's status if it differs from the last one saved, else None."""
        job = self.jobs.get(key)
        previous = self.last.get(key)
        if job is None:
            if previous is None or previous.phase in ("succeeded", "failed"):
                return None  # never seen, or cleaned up after it ended (ttlSecondsAfterFinished)
            # Deleted (by a cancel, or behind the portal's back): said once, and again when its
            # last Pod is gone, since until then the namespace's quota still counts them.
            status = BackendStatus(key[1], "missing", gettext_noop("the Job was deleted from the cluster"))
            status.extra = {
                "namespace": key[0],
                "name": job_name(key[1]),
                "pods": len(self.pods.get(key, {})),
            }
        else:
            status = job_status(
                key[1], job, list(self.pods.get(key, {}).values()), list(self.events.get(key, {}).values())
            )
        if status == previous:
            return None
        return status


def _status_key(status: BackendStatus) -> tuple[str, int]:
    return (status.extra.get("namespace", ""), status.job_id)
