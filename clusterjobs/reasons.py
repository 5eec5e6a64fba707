"""Why a job is where it is, in the reader's language.

Reasons are stored in English, as the API and the command line show them, whoever and whatever
wrote them (a request in Spanish, a Celery task, the watcher). Pages translate them when they
show them: a fixed reason ("started") is a message of the catalogue as it is; a reason with
values ("submitted by alice") is one of the messages below with its values filled in.
"""

import re
from functools import cache

from django.utils.translation import gettext, gettext_noop

# Every reason with values that the portal writes; the same messages are marked where they are
# written, so each has one Spanish translation.
WITH_VALUES = (
    gettext_noop("submitted by %(user)s"),
    gettext_noop("re-run of job %(id)s by %(user)s"),
    gettext_noop("cancelled by %(user)s"),
    gettext_noop("exited with code %(code)s"),
    gettext_noop("exited with code %(code)s (%(reason)s)"),
    gettext_noop("restarting after exit code %(code)s (%(reason)s)"),
    gettext_noop("found on the backend as %(name)s"),
    gettext_noop("created on the backend as %(name)s"),
    gettext_noop("%(name)s already exists on the backend for another job (uid %(uid)s)"),
    gettext_noop("the backend refused the job: %(error)s"),
    gettext_noop("could not be created on the backend after %(n)s attempts: %(error)s"),
    gettext_noop("dispatch failed, retrying: %(error)s"),
    gettext_noop("MLflow could not create the job's run: %(error)s"),
    gettext_noop("image could not be pulled (%(reason)s): %(message)s"),
    gettext_noop("waiting for resources: %(message)s"),
    gettext_noop("the cluster did not create the pod: %(message)s"),
    gettext_noop("time limit exceeded while waiting: %(reason)s"),
    # A job's code could not be fetched (the Kubernetes init container, or the local runner).
    gettext_noop("clone failed (exit code %(code)s): %(log)s"),
    gettext_noop("unpack failed (exit code %(code)s): %(log)s"),
    gettext_noop("pull failed (exit code %(code)s): %(log)s"),
    # Written by the local runner (clusterjobs/backends/local_runner.py) before a job's command starts.
    gettext_noop("MLflow tracking at %(url)s answered with a redirect to %(location)s"),
    gettext_noop("could not reach MLflow tracking at %(url)s: %(error)s"),
)
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@cache
def _patterns() -> list[tuple[str, re.Pattern]]:
    patterns = []
    for message in WITH_VALUES:
        parts = PLACEHOLDER.split(message)  # text, name, text, name, ..., text
        regex = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts))
        patterns.append((message, re.compile(regex, re.DOTALL)))
    return patterns


def translate_reason(reason: str) -> str:
    """The stored (English) reason in the active language; one the catalogue does not know (a
    Kubernetes event, a reason written before reasons were stored in English) as it is."""
    if not reason:
        return reason
    translated = gettext(reason)
    if translated != reason:
        return translated
    for message, pattern in _patterns():
        match = pattern.fullmatch(reason)
        if match:
            # A value may be a reason itself: "the backend refused the job: <the backend's reason>".
            return gettext(message) % {
                name: translate_reason(value) for name, value in match.groupdict().items()
            }
    return reason
