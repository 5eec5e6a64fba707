"""Usage accounting: GPU-hours, CPU-hours and memory-hours from the real start and end of jobs,
and of what other workloads held (a deployment's replicas: ``periods.add_usage_source``).

A job counts from ``started_at`` to ``finished_at`` (a running job up to now), clipped to the
period asked about, so a job that crosses a period boundary is split between the two periods.
Sums are computed by the database, one query per question and source, whatever the number of jobs.
"""

from datetime import date, datetime, timedelta

from django.db.models import Count
from django.utils import timezone

from clusterjobs.models import Job

from .periods import (
    MIB_PER_GIB,
    Usage,
    Window,
    add_rows,
    hours,
    local_midnight,
    other_uses,
    parse_window,
    period_window,
    previous_window,
    ran_within,
    sums,
    to_usage,
)

__all__ = [
    "Usage",
    "Window",
    "daily_series",
    "job_usage",
    "member_usage",
    "parse_window",
    "period_window",
    "previous_window",
    "project_usage",
    "projects_usage",
]


def job_usage(job: Job, window: Window | None = None, now: datetime | None = None) -> Usage:
    """One job's use, within a window when given (else its whole run)."""
    now = now or timezone.now()
    if job.started_at is None:
        return Usage()
    end = job.finished_at or now
    start = job.started_at
    if window is not None:
        start, end = max(start, window.start), min(end, window.end)
    seconds = max((end - start).total_seconds(), 0.0)
    return Usage(
        gpu_hours=hours(seconds * job.gpus / 3600),
        cpu_hours=hours(seconds * float(job.cpu) / 3600),
        memory_gib_hours=hours(seconds * job.memory_mib / 3600 / MIB_PER_GIB),
        jobs=1,
    )


def project_usage(project_id: int, window: Window, now: datetime | None = None) -> Usage:
    row = ran_within(Job.objects.filter(project_id=project_id), window, now).aggregate(
        jobs=Count("pk"), **sums()
    )
    for uses in other_uses([project_id]):
        row = add_rows(row, ran_within(uses, window, now).aggregate(**sums()))
    return to_usage(row)


def member_usage(project_id: int, window: Window, now: datetime | None = None) -> list[dict]:
    """Per submitter: ``{"user_id", "username", "usage"}``, largest GPU then CPU use first."""
    rows = (
        ran_within(Job.objects.filter(project_id=project_id), window, now)
        .values("submitter_id", "submitter__username")
        .annotate(jobs=Count("pk"), **sums())
        .order_by("submitter__username")
    )
    found = {row["submitter_id"]: row for row in rows}
    for uses in other_uses([project_id]):
        others = (
            ran_within(uses, window, now)
            .values("submitter_id", "submitter__username")
            .annotate(**sums())
            .order_by()
        )
        for row in others:
            who = {
                "jobs": 0,
                "submitter_id": row["submitter_id"],
                "submitter__username": row["submitter__username"],
            }
            found[row["submitter_id"]] = add_rows(found.get(row["submitter_id"], who), row)
    members = [
        {"user_id": row["submitter_id"], "username": row["submitter__username"], "usage": to_usage(row)}
        for row in found.values()
    ]
    members.sort(key=lambda m: (-m["usage"].gpu_hours, -m["usage"].cpu_hours, m["username"]))
    return members


def projects_usage(project_ids: list[int], window: Window, now: datetime | None = None) -> dict[int, Usage]:
    """Use of many projects in one query: ``{project_id: Usage}`` (absent projects used nothing)."""
    rows = (
        ran_within(Job.objects.filter(project_id__in=project_ids), window, now)
        .values("project_id")
        .annotate(jobs=Count("pk"), **sums())
        .order_by()
    )
    found = {row["project_id"]: row for row in rows}
    for uses in other_uses(project_ids):
        others = ran_within(uses, window, now).values("project_id").annotate(**sums()).order_by()
        for row in others:
            found[row["project_id"]] = add_rows(found.get(row["project_id"], {"jobs": 0}), row)
    return {pk: to_usage(found[pk]) if pk in found else Usage() for pk in project_ids}


def daily_series(project_id: int, window: Window, now: datetime | None = None) -> dict:
    """GPU-hours and CPU-hours per day of the window (cumulative too), for the plot."""
    now = now or timezone.now()
    days: list[date] = []
    cursor = timezone.localtime(window.start).date()
    last = timezone.localtime(window.end).date()
    while cursor < last:
        days.append(cursor)
        cursor += timedelta(days=1)
    gpu = [0.0] * len(days)
    cpu = [0.0] * len(days)
    index = {day: i for i, day in enumerate(days)}
    sources = [Job.objects.filter(project_id=project_id), *other_uses([project_id])]
    rows = (
        row
        for source in sources
        for row in ran_within(source, window, now)
        .values_list("started_at", "finished_at", "gpus", "cpu")
        .iterator(chunk_size=2000)
    )
    for started, finished, gpus, cores in rows:
        start = max(started, window.start)
        end = min(finished or now, window.end, now)
        while start < end:
            day = timezone.localtime(start).date()
            boundary = min(local_midnight(day + timedelta(days=1)), end)
            hours = (boundary - start).total_seconds() / 3600
            if day in index:
                gpu[index[day]] += hours * gpus
                cpu[index[day]] += hours * float(cores)
            start = boundary
    cumulative_gpu, cumulative_cpu, total_gpu, total_cpu = [], [], 0.0, 0.0
    for g, c in zip(gpu, cpu, strict=True):
        total_gpu += g
        total_cpu += c
        cumulative_gpu.append(round(total_gpu, 2))
        cumulative_cpu.append(round(total_cpu, 2))
    return {
        "labels": [day.isoformat() for day in days],
        "gpu_hours": [round(v, 2) for v in gpu],
        "cpu_hours": [round(v, 2) for v in cpu],
        "gpu_hours_cumulative": cumulative_gpu,
        "cpu_hours_cumulative": cumulative_cpu,
    }
