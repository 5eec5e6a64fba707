"""Times as every page shows them: one date and time format with its time zone (``when``) and
durations (``duration``), template filters available everywhere (``TEMPLATES`` builtins); and the
middleware that shows them in the reader's own time zone (``TimeZoneMiddleware``: the zone on
their profile, else the site's ``TIME_ZONE``); and ``api_time``, a time as the API shows it.
Imports no app."""

import zoneinfo
from datetime import datetime, timedelta

from django import template
from django.utils import dateformat, timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _

register = template.Library()

# 2026-11-30 14:05 CET: the same on every page and in every language, sortable, with its zone.
FORMAT = "Y-m-d H:i T"


def valid_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return bool(name)


FORMAT_SECONDS = "Y-m-d H:i:s T"


@register.filter
def when(value: datetime | None, precision: str = "") -> str:
    """A moment in the reader's time zone, with the zone: <time datetime="…">2026-11-30 14:05
    CET</time> (``|when:"seconds"`` adds the seconds); "—" for none."""
    if not isinstance(value, datetime):
        return "—"
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    shown = dateformat.format(local, FORMAT_SECONDS if precision == "seconds" else FORMAT)
    return format_html('<time datetime="{}">{}</time>', value.isoformat(), shown)


@register.filter
def duration(value: timedelta | float | int | None) -> str:
    """A duration as people say it: 42 s, 5 min 3 s, 2 h 5 min, 3 d 4 h; "—" for none."""
    if value is None or value == "":
        return "—"
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    seconds = max(seconds, 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return _("%(d)s d %(h)s h") % {"d": days, "h": hours}
    if hours:
        return _("%(h)s h %(m)s min") % {"h": hours, "m": minutes}
    if minutes:
        return _("%(m)s min %(s)s s") % {"m": minutes, "s": secs}
    return _("%(s)s s") % {"s": secs}


class TimeZoneMiddleware:
    """Shows times in the signed-in reader's time zone (their profile's), else the site's."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        zone = getattr(getattr(request, "user", None), "time_zone", "")
        if zone and valid_zone(zone):
            timezone.activate(zoneinfo.ZoneInfo(zone))
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


def api_time(value: datetime | None, zone: zoneinfo.ZoneInfo | None = None) -> str | None:
    """``value`` as DRF's DateTimeField shows it (ISO 8601 in the current time zone, "Z" for UTC),
    without its per-call settings lookups: for API lists that build their rows directly (a page
    of 50 jobs shows 200 times). ``zone``: the current time zone, looked up once per row."""
    if value is None:
        return None
    if timezone.is_naive(value):
        from rest_framework.fields import DateTimeField  # DRF makes it aware its own way

        return DateTimeField().to_representation(value)
    text = value.astimezone(zone or timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
