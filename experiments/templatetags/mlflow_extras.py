"""Small filters for MLflow data in templates."""

from datetime import UTC, datetime

from django import template
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

register = template.Library()

# MLflow's states of runs and of model versions, as people read them; a state MLflow adds later
# shows as MLflow spells it.
STATES = {
    "RUNNING": pgettext_lazy("MLflow state", "RUNNING"),
    "SCHEDULED": pgettext_lazy("MLflow state", "SCHEDULED"),
    "FINISHED": pgettext_lazy("MLflow state", "FINISHED"),
    "FAILED": pgettext_lazy("MLflow state", "FAILED"),
    "KILLED": pgettext_lazy("MLflow state", "KILLED"),
    "READY": pgettext_lazy("MLflow state", "READY"),
    "PENDING_REGISTRATION": pgettext_lazy("MLflow state", "PENDING_REGISTRATION"),
    "FAILED_REGISTRATION": pgettext_lazy("MLflow state", "FAILED_REGISTRATION"),
}


@register.filter
def ms_datetime(value) -> datetime | None:
    """MLflow's milliseconds since the epoch as an aware datetime."""
    if value in (None, ""):
        return None
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def mlflow_state(value: str) -> str:
    """A run's or model version's state (RUNNING, READY...) in the reader's language."""
    return STATES.get(value, value)


@register.filter
def short_number(value) -> str:
    """A metric to four significant digits (the full value goes in a title)."""
    if not isinstance(value, float | int) or isinstance(value, bool):
        return "" if value is None else str(value)
    return f"{value:.4g}"


@register.filter
def duration(milliseconds) -> str:
    """A run's length as people read it: 850 ms, 42 s, 3 min 5 s, 2 h 10 min."""
    if milliseconds in (None, "") or int(milliseconds) < 0:
        return ""
    ms = int(milliseconds)
    if ms < 1000:
        return _("%(n)d ms") % {"n": ms}
    seconds = ms // 1000
    if seconds < 60:
        return _("%(n)d s") % {"n": seconds}
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return _("%(m)d min %(s)d s") % {"m": minutes, "s": seconds}
    hours, minutes = divmod(minutes, 60)
    return _("%(h)d h %(m)d min") % {"h": hours, "m": minutes}
