"""Why a step is where it is, in the reader's language. Stored in English (as the API shows
them), translated on display; a job's own reason inside one goes through the jobs' translation."""

import re

from django.utils.translation import gettext, gettext_noop

from clusterjobs.reasons import translate_reason

WITH_VALUES = (
    gettext_noop("refused at submission: %(why)s"),
    gettext_noop("attempt %(n)s failed (%(why)s); retrying in %(s)s s"),
    gettext_noop("upstream step %(step)s did not succeed"),
    gettext_noop("kept from pipeline run %(id)s"),
    gettext_noop("the pipeline run ended"),
    gettext_noop("%(n)s time(s) missed while the portal was down; skipped"),
    gettext_noop("%(user)s may no longer run the project's pipelines"),
    gettext_noop("%(user)s may no longer run the project's jobs"),
)
VALUE = re.compile(r"%\((\w+)\)s")


def translate(reason: str) -> str:
    for message in WITH_VALUES:
        parts = VALUE.split(message)
        regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts))
        if match := re.fullmatch(regex, reason, re.DOTALL):
            values = {name: translate_reason(value) for name, value in match.groupdict().items()}
            return gettext(message) % values
    return translate_reason(reason)
