"""Reading a job's log: from its backend while it runs, from the kept final log once it ended.

The tail (the job page) is one bounded backend call. The whole log (its pages, a search in it,
the download) is read as a stream of pieces, one piece in memory at a time, whatever its size."""

import codecs
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain

from .backends import BackendError, get_backend
from .models import Job, JobStatus

log = logging.getLogger(__name__)

DEFAULT_TAIL = 200
MAX_TAIL = 10000
PAGE_LINES = 1000  # lines on a page of the whole log, and matches on a page of a search
MAX_LINE_CHARS = 10000  # a longer line is shown as several
MAX_QUERY_CHARS = 200
CHUNK_BYTES = 65536


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


def log_chunks(job: Job) -> Iterator[bytes]:
    """The job's whole log as it stands, in pieces: the kept final log once the job ended, else
    what its backend has. Raises BackendError now (not while streaming) when the backend cannot
    give it."""
    if job.is_terminal() and job.final_log:
        data = job.final_log.encode()
        if not data.endswith(b"\n"):
            data += b"\n"
        return iter([data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)])
    if job.status == JobStatus.QUEUED or not job.backend:
        return iter(())
    pieces = get_backend(job.backend).log_chunks(job.pk, job.project.slug)
    first = next(pieces, None)  # the backend's refusal comes here, before a response has started
    return iter(()) if first is None else chain([first], pieces)


def split_lines(chunks: Iterable[bytes], max_chars: int = MAX_LINE_CHARS) -> Iterator[str]:
    """The lines of a stream of UTF-8 pieces (undecodable bytes replaced), none longer than
    ``max_chars``: memory holds one piece and one line."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    for chunk in chunks:
        pending += decoder.decode(chunk)
        *lines, pending = pending.split("\n")
        for line in lines:
            yield from _cut(line.removesuffix("\r"), max_chars)
        while len(pending) > max_chars:
            yield pending[:max_chars]
            pending = pending[max_chars:]
    pending += decoder.decode(b"", final=True)
    if pending:
        yield from _cut(pending.removesuffix("\r"), max_chars)


def _cut(line: str, size: int) -> Iterator[str]:
    if not line:
        yield line
    for start in range(0, len(line), size):
        yield line[start : start + size]


@dataclass
class LogPage:
    """One page of the whole log, or of the lines that match a search."""

    lines: list[tuple[int, str]] = field(default_factory=list)  # (line number, text)
    number: int = 1  # this page's number
    pages: int = 1  # how many pages the log (or the search's matches) fills
    total_lines: int = 0
    matches: int = 0  # lines that match the search ('' searches nothing)
    problem: str = ""


def read_log_page(job: Job, page: int | None = None, query: str = "") -> LogPage:
    """Page ``page`` (1-based; None for the last) of the job's whole log, or of its lines that
    contain ``query`` (ignoring case). The log is read once, as a stream; one page is kept."""
    needle = query.casefold()
    result = LogPage()
    try:
        lines = split_lines(log_chunks(job))
        shown = 0
        for number, line in enumerate(lines, 1):
            result.total_lines = number
            if needle and needle not in line.casefold():
                continue
            index = shown // PAGE_LINES + 1  # the page this line falls on
            shown += 1
            if page is None and (shown - 1) % PAGE_LINES == 0:
                result.lines = []  # a new page begins: the last one is the one kept
            if page is None or index == page:
                result.lines.append((number, line))
    except BackendError as error:
        log.info("log of job %s unavailable: %s", job.pk, error)
        result.problem = str(error)
        return result
    result.matches = shown if needle else 0
    result.pages = max(1, -(-shown // PAGE_LINES))
    result.number = result.pages if page is None else page
    return result
