from django import template
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from portal.projects.templatetags.taller import number

from ..models import Period, Quota
from ..summary import quota_summary

register = template.Library()


@register.inclusion_tag("quotas/_summary.html", takes_context=True)
def project_quota(context, project) -> dict:
    """The quota section of a project page: current use and remaining budget as bars."""
    return {
        **quota_summary(project),
        "project": project,
        "request": context.get("request"),
        "with_link": True,
    }


def _label(name: str) -> str:
    try:
        return capfirst(Quota._meta.get_field(name).verbose_name)
    except Exception:  # noqa: BLE001 - a name a newer release stored: shown as it is
        return name


def _shown(name: str, value) -> str:
    if value is None or value == "":
        return "—"
    if name == "period":
        return str(Period(value).label) if value in Period.values else str(value)
    return number(value)


@register.filter
def quota_values(values: dict) -> list[tuple[str, str]]:
    """A quota request's values as people read them: (label, value), "Maximum concurrent GPUs", "8"
    rather than ``max_gpus 8``."""
    return [(_label(name), _shown(name, value)) for name, value in (values or {}).items()]


@register.filter
def quota_changes(changed: list) -> list[tuple[str, str, str]]:
    """A quota change's (field, old, new) as (label, old, new) with the reader's number format."""
    return [(_label(name), _shown(name, old), _shown(name, new)) for name, old, new in changed]


@register.simple_tag
def share(used, limit) -> str:
    """Use as a share of a budget, for a data table: "35 %" (nothing to share of an empty budget)."""
    if not limit:
        return "—"
    return _("%(percent)s %%") % {"percent": number(round(100 * float(used) / float(limit)))}
