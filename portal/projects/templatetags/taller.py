"""The portal's shared look: icons from the vendored Lucide sprite, one status badge for every
page (colour, icon and word: never colour alone), and the navigation's current page."""

import math
from decimal import Decimal

from django import template
from django.templatetags.static import static
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

register = template.Library()

# The icon of each status a badge shows: jobs, projects, quota requests and MLflow runs.
STATUS_ICONS = {
    "queued": "clock",
    "dispatching": "send",
    "pending": "hourglass",
    "running": "loader",
    "succeeded": "circle-check",
    "finished": "circle-check",
    "failed": "circle-x",
    "killed": "circle-x",
    "cancelled": "circle-slash",
    "active": "circle-check",
    "approved": "circle-check",
    "rejected": "circle-x",
    "declined": "circle-x",
    "archived": "archive",
    "scheduled": "clock",
}


@register.simple_tag
def icon(name: str, label: str = "") -> str:
    """An icon of the vendored sprite, in the text's colour. Decorative unless it has a label."""
    if label:
        return format_html(
            '<svg class="icon" role="img" aria-label="{}"><use href="{}#{}"></use></svg>',
            label,
            static("vendor/lucide/sprite.svg"),
            name,
        )
    return format_html(
        '<svg class="icon" aria-hidden="true" focusable="false"><use href="{}#{}"></use></svg>',
        static("vendor/lucide/sprite.svg"),
        name,
    )


@register.simple_tag
def status_badge(value: str, label: str, element_id: str = "") -> str:
    """A status as a coloured badge with its icon and its word, the same on every page."""
    value = (value or "").lower()
    return format_html(
        '<span class="status status-{}"{}>{}<span>{}</span></span>',
        value,
        format_html(' id="{}"', element_id) if element_id else "",
        icon(STATUS_ICONS.get(value, "circle-dot")),
        label,
    )


@register.simple_tag
def job_status(job, element_id: str = "") -> str:
    """A job's status badge."""
    return status_badge(job.status, job.get_status_display(), element_id)


@register.simple_tag(takes_context=True)
def current(context, *prefixes: str) -> str:
    """``aria-current="page"`` on a navigation link when the page's URL name starts with one of
    ``prefixes`` (``"clusterjobs:"`` for every job page, ``"dashboard"`` for one page)."""
    request = context.get("request")
    match = getattr(request, "resolver_match", None)
    name = match.view_name if match else ""
    if name and any(name == p or (p.endswith(":") and name.startswith(p)) for p in prefixes):
        return format_html('aria-current="{}"', "page")
    return ""


@register.filter
def get_item(mapping, key):
    """``mapping[key]``, or None: for dictionaries keyed by something a template holds."""
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.simple_tag
def job_duration(job, now=None) -> str:
    """How long a job ran (or has been running): "45 s", "12 min", "3 h 05 min"; "—" before it starts."""
    if not job.started_at:
        return "—"
    end = job.finished_at or now or timezone.now()
    seconds = max(int((end - job.started_at).total_seconds()), 0)
    if seconds < 60:
        return _("%(seconds)d s") % {"seconds": seconds}
    minutes = seconds // 60
    if minutes < 60:
        return _("%(minutes)d min") % {"minutes": minutes}
    return _("%(hours)d h %(minutes)02d min") % {"hours": minutes // 60, "minutes": minutes % 60}


@register.filter
def metric_value(value) -> str:
    """A metric as people read it: four significant digits, in the reader's number format
    (0.7712 → "0.7712", "0,7712" in Spanish; 1234.567 → "1,234.6")."""
    if value is None:
        return "—"
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        return str(number)
    if abs(number) >= 1000:
        return number_format(round(number, 1), decimal_pos=None, force_grouping=True)
    return number_format(Decimal(f"{number:.4g}"), force_grouping=True)


@register.filter
def number(value) -> str:
    """One number format on every page: the reader's decimal mark and thousands grouping, and no
    trailing zeros of a decimal field (8 CPU cores, not "8.000", which reads as eight thousand in
    Spanish). Empty values stay as they are (for ``|default``)."""
    if value is None or value == "":
        return value
    if isinstance(value, str):
        try:
            value = Decimal(value)
        except ArithmeticError:
            return value
    if isinstance(value, Decimal):
        value = value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()
    return number_format(value, force_grouping=True)


@register.simple_tag
def job_resources(job) -> str:
    """ "1 CPU core, 2,048 MiB of memory, 2 GPUs": each count with its own plural."""
    cores = job.cpu.normalize() if isinstance(job.cpu, Decimal) else job.cpu
    parts = [
        ngettext("%(count)s CPU core", "%(count)s CPU cores", 1 if cores == 1 else 2)
        % {"count": number(cores)},
        ngettext("%(count)s MiB of memory", "%(count)s MiB of memory", job.memory_mib)
        % {"count": number(job.memory_mib)},
        ngettext("%(count)s GPU", "%(count)s GPUs", job.gpus) % {"count": number(job.gpus)},
    ]
    return ", ".join(parts)
