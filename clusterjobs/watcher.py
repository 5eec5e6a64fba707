"""The watcher loop: what the backend says about jobs, applied to the portal's jobs."""

import logging
from threading import Event

from django.db import connections
from django.utils import timezone

from portal import observe
from portal.retry import call_with_retries

from . import sync
from .backends import Backend, BackendError, get_backend

log = logging.getLogger(__name__)


def _lag(status) -> float | None:
    """Seconds since the backend recorded the change this status reports (its start or end)."""
    moment = status.finished_at or status.started_at
    return (timezone.now() - moment).total_seconds() if moment else None


def drop_unusable_connections() -> None:
    """The loop runs for days: drop a connection an error left unusable (the database restarted or
    closed it). A healthy one is kept, whatever CONN_MAX_AGE says, as a worker keeps one for its
    task: a connection opened per status (CONN_MAX_AGE=0) made each status wait for a new
    connection, and the first pass over 10,000 running jobs take minutes (`make bench`)."""
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None and connection.errors_occurred:
            if connection.is_usable():
                connection.errors_occurred = False
            else:
                connection.close()


def follow(stop: Event, backend: Backend | None = None) -> int:
    """Apply every status the backend's watch stream yields until ``stop`` is set; returns how many
    were applied. The backend handles its own reconnects; a failure on one job never ends the loop,
    and a status that could not be saved (the database refused or was away) is sent back as not
    saved, so that the backend yields it again instead of taking it as seen."""
    backend = backend or get_backend()
    applied = 0
    while not stop.is_set():
        observe.watcher_started(backend.name)
        stream = backend.watch(stop)
        try:
            saved = None
            while True:
                status = stream.send(saved)
                drop_unusable_connections()
                try:
                    moved = call_with_retries(sync.apply_status, status, stop=stop)
                except Exception:
                    log.exception("could not apply the status of job %s; trying again", status.job_id)
                    saved = False
                else:
                    applied += 1
                    saved = True
                    observe.watcher_applied(backend.name, _lag(status) if moved else None)
        except StopIteration:
            pass
        except BackendError as error:
            log.warning("the %s watch stream failed, starting again: %s", backend.name, error)
            stop.wait(5)
        except Exception:
            log.exception("the %s watch stream failed, starting again", backend.name)
            stop.wait(5)
        finally:
            stream.close()
    return applied
