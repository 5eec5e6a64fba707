from django import template

from experiments.headline import headline_metrics

register = template.Library()

RECENT_JOBS = 10


@register.inclusion_tag("includes/jobs_table.html")
def recent_jobs(project, empty_text: str = "") -> dict:
    """A project's latest jobs with their status, duration and run's headline metric: one query and
    one bounded MLflow call, whatever the number of jobs. The caller has checked the project."""
    jobs = list(
        project.jobs.select_related("project", "submitter").order_by("-created_at", "-pk")[:RECENT_JOBS]
    )
    return {
        "jobs": jobs,
        "headlines": headline_metrics(jobs),
        "show_project": False,
        "empty_text": empty_text,
        "table_id": "project-jobs-table",
    }
