"""Small filters for MLflow data in templates."""

from datetime import UTC, datetime

from django import template

register = template.Library()


@register.filter
def ms_datetime(value) -> datetime | None:
    """MLflow's milliseconds since the epoch as an aware datetime."""
    if value in (None, ""):
        return None
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None
