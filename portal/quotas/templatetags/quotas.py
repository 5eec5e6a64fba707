from django import template

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
