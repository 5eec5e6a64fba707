"""Every project's use in one period against its quota, as CSV: the site admins' export (the page
and the API stream the same lines)."""

import csv
from decimal import Decimal

from django.core.paginator import Paginator

from portal.projects.models import Project

from . import usage


class _Echo:
    def write(self, value: str) -> str:
        return value


CSV_HEADER = [
    "project",
    "name",
    "principal_investigator",
    "status",
    "period",
    "period_start",
    "period_end",
    "jobs",
    "gpu_hours",
    "cpu_hours",
    "memory_gib_hours",
    "gpu_hours_per_period",
    "cpu_hours_per_period",
    "quota_period",
]


def usage_csv_rows(window: usage.Window):
    """Every project's use in ``window`` against its quota, as CSV lines (streamed, 500 projects
    a query)."""
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_HEADER)
    projects = Project.objects.select_related("quota").order_by("slug")
    paginator = Paginator(projects, 500)
    for number in paginator.page_range:
        chunk = list(paginator.page(number))
        used = usage.projects_usage([p.pk for p in chunk], window)
        for project in chunk:
            quota = getattr(project, "quota", None)
            row = used[project.pk]
            yield writer.writerow(
                [
                    project.slug,
                    project.name,
                    project.principal_investigator,
                    project.status,
                    window.label,
                    window.start.isoformat(),
                    window.end.isoformat(),
                    row.jobs,
                    row.gpu_hours,
                    row.cpu_hours,
                    row.memory_gib_hours,
                    quota.gpu_hours_per_period if quota else Decimal(0),
                    quota.cpu_hours_per_period if quota else Decimal(0),
                    quota.period if quota else "",
                ]
            )
