"""The watcher loop: what the backend says about jobs, applied to the portal's jobs."""

import logging
from threading import Event

from django.db import close_old_connections

from portal.retry import call_with_retries

from . import actions
from .backends import Backend, BackendError, get_backend

log = logging.getLogger(__name__)


def follow(stop: Event, backend: Backend | None = None) -> int:
    """Apply every status the backend's watch stream yields until ``stop`` is set; returns how many
    were applied. The backend handles its own reconnects; a failure on one job never ends the loop."""
    backend = backend or get_backend()
    applied = 0
    while not stop.is_set():
        try:
            for status in backend.watch(stop):
                close_old_connections()  # the loop runs for days: drop connections the database closed
                try:
                    call_with_retries(actions.apply_status, status, stop=stop)
                    applied += 1
                except Exception:
                    log.exception("could not apply the status of job %s", status.job_id)
        except BackendError as error:
            log.warning("the %s watch stream failed, starting again: %s", backend.name, error)
            stop.wait(5)
        except Exception:
            log.exception("the %s watch stream failed, starting again", backend.name)
            stop.wait(5)
    return applied
