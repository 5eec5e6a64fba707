"""One retry policy for what writes in the background (Celery tasks, the watcher).

A transient database error is retried with exponential backoff and full jitter: SQLite still
busy after its timeout, a dropped PostgreSQL connection, a serialization failure or a deadlock.
These are the DB-API's OperationalError and InterfaceError ("related to the database's operation
and not necessarily under the control of the programmer"); an IntegrityError or a ProgrammingError
is a bug or bad data, and retrying it would only repeat it.
"""

import logging
import time
from collections.abc import Callable
from threading import Event
from typing import TypeVar

from celery import Task
from celery.utils.time import get_exponential_backoff_interval
from django.db import InterfaceError, OperationalError, close_old_connections

log = logging.getLogger(__name__)

TRANSIENT_DATABASE_ERRORS = (OperationalError, InterfaceError)
BACKOFF_FACTOR = 1  # seconds: attempts wait at most 1, 2, 4, 8, 16, 30, 30, ...
BACKOFF_MAX = 30
MAX_RETRIES = 10

T = TypeVar("T")


def backoff(retries: int) -> int:
    """Seconds to wait before retry number ``retries + 1`` (random, up to the exponential bound)."""
    return get_exponential_backoff_interval(BACKOFF_FACTOR, retries, BACKOFF_MAX, full_jitter=True)


class WritingTask(Task):
    """The base of every task that writes: Celery retries it on a transient database error, with
    the backoff above. A task's own retries (a backend or MLflow that did not answer) come on top."""

    autoretry_for = TRANSIENT_DATABASE_ERRORS
    retry_backoff = BACKOFF_FACTOR
    retry_backoff_max = BACKOFF_MAX
    retry_jitter = True
    max_retries = MAX_RETRIES


def call_with_retries(write: Callable[..., T], *args, stop: Event | None = None, **kwargs) -> T:
    """``write(*args, **kwargs)``, again after a transient database error, as a task would be
    (for loops that are not tasks: the watcher). Gives up, raising the error, after MAX_RETRIES
    retries or when ``stop`` is set."""
    retries = 0
    while True:
        try:
            return write(*args, **kwargs)
        except TRANSIENT_DATABASE_ERRORS as error:
            if retries >= MAX_RETRIES or (stop is not None and stop.is_set()):
                raise
            wait = backoff(retries)
            retries += 1
            log.warning("%s: %s; retry %s in %.1f s", getattr(write, "__name__", write), error, retries, wait)
            close_old_connections()  # a connection the error left unusable is opened afresh
            if stop is not None:
                stop.wait(wait)
            else:
                time.sleep(wait)
