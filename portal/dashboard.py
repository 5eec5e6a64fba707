"""The dashboard: what is running, my projects with their quota use at a glance, a way to submit a
job, and for site admins what waits for them. It composes the apps (jobs, quotas, MLflow), so it
lives beside the URLconf rather than in one of them.

Queries are bounded whatever the number of jobs and projects: lists are sliced or paged, counts
are aggregates, quota use is two grouped queries (holdings, and usage per kind of period), and the
runs' headline metrics are one bounded MLflow call for the whole page."""

from collections import defaultdict
from decimal import Decimal

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from clusterjobs.models import ACTIVE, TERMINAL, Job, JobStatus
from experiments.headline import headline_metrics
from portal.projects.models import Membership, Project, Role
from portal.quotas import admission, usage
from portal.quotas.models import QuotaRequest
from portal.quotas.summary import Bar

RUNNING_SHOWN = 20
RECENT_SHOWN = 10
PROJECTS_PER_PAGE = 25


def _quota_bars(memberships: list[Membership]) -> dict[int, list[Bar]]:
    """GPUs and running jobs in use now, GPU-hours of the current period: per project, as bars."""
    projects = [m.project for m in memberships]
    held = admission.holdings([p.pk for p in projects])
    by_period: dict[str, list[int]] = defaultdict(list)
    for project in projects:
        if quota := getattr(project, "quota", None):
            by_period[quota.period].append(project.pk)
    used = {}
    for period, ids in by_period.items():
        used |= usage.projects_usage(ids, usage.period_window(period))
    bars = {}
    for project in projects:
        quota = getattr(project, "quota", None)
        if quota is None:
            bars[project.pk] = []
            continue
        bars[project.pk] = [
            Bar("gpus", _("GPUs"), held[project.pk].gpus, quota.max_gpus),
            Bar("jobs", _("Running jobs"), held[project.pk].jobs, quota.max_running_jobs),
            Bar(
                "gpu_hours",
                _("GPU-hours"),
                used[project.pk].gpu_hours,
                quota.gpu_hours_per_period or Decimal(0),
            ),
        ]
    return bars


def _admin_counts() -> dict[str, int]:
    return {
        "projects_to_review": Project.objects.filter(status=Project.Status.PENDING).count(),
        "open_quota_requests": QuotaRequest.objects.filter(status=QuotaRequest.Status.PENDING).count(),
    }


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    user = request.user
    mine = Job.objects.visible_to(user).filter(submitter=user).select_related("project")
    running = list(mine.exclude(status__in=TERMINAL).order_by("-created_at", "-pk")[:RUNNING_SHOWN])
    recent = list(mine.filter(status__in=TERMINAL).order_by("-created_at", "-pk")[:RECENT_SHOWN])
    counts = mine.order_by().aggregate(
        running=Count("pk", filter=Q(status=JobStatus.RUNNING)),
        waiting=Count("pk", filter=Q(status__in=[JobStatus.QUEUED, *(ACTIVE - {JobStatus.RUNNING})])),
        failed=Count("pk", filter=Q(status=JobStatus.FAILED)),
    )
    memberships = (
        Membership.objects.filter(user=user).select_related("project__quota").order_by("project__name")
    )
    page = Paginator(memberships, PROJECTS_PER_PAGE).get_page(request.GET.get("page"))
    rows = list(page)
    bars = _quota_bars(rows)
    submittable = [
        m.project
        for m in Membership.objects.filter(
            user=user, role__in=[Role.OWNER, Role.MEMBER], project__status=Project.Status.ACTIVE
        )
        .select_related("project")
        .order_by("project__name")[:50]
    ]
    context = {
        "running": running,
        "recent": recent,
        "counts": counts,
        "headlines": headline_metrics(running + recent),
        "page": page,
        "projects": [{"membership": m, "project": m.project, "bars": bars[m.project.pk]} for m in rows],
        "submittable": submittable,
        "admin": _admin_counts() if user.is_site_admin else None,
    }
    return render(request, "projects/dashboard.html", context)
