"""Reading a job's log: from its backend while it runs, from the kept final log once it ended."""

import logging

from .backends import BackendError, get_backend
from .models import Job, JobStatus

log = logging.getLogger(__name__)

DEFAULT_TAIL = 200
MAX_TAIL = 10000


def read_log(job: Job, tail: int = DEFAULT_TAIL) -> tuple[list[str], bool, str]:
    """(last ``tail`` lines, whether the log is final, a problem to show or ""). One bounded
    backend call at most: the backend's own timeouts apply."""
    if job.is_terminal() and job.final_log:
        return job.final_log.splitlines()[-tail:], True, ""
    if job.status == JobStatus.QUEUED or not job.backend:
        return [], job.is_terminal(), ""
    try:
        lines = get_backend(job.backend).logs(job.pk, job.project.slug, tail=tail)
    except BackendError as error:
        log.info("logs of job %s unavailable: %s", job.pk, error)
        return [], job.is_terminal(), str(error)
    return lines, job.is_terminal(), ""
