"""Small filters for MLflow data in templates."""

from datetime import UTC, datetime

from django import template
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
