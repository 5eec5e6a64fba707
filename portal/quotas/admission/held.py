"""What is held now: per project (the ``Holding`` rows a PostgreSQL trigger keeps exact, else the
jobs summed), over the whole cluster, and per member of a project."""

from decimal import Decimal

from django.db import connection
from django.db.models import Count, Sum

from clusterjobs.models import Job, JobStatus

from ..models import Holding
from .resources import Resources

# What other workloads than jobs hold (a deployment's replicas): functions of a list of project
# ids (None: every project) answering ``{project_id: Resources}``, added by the apps that own them (``add_holder``), so
# that admission, the quota bars and the usage pages count them with the jobs.
_other_holders: list = []


def add_holder(holder) -> None:
    if holder not in _other_holders:
        _other_holders.append(holder)


def _others(project_ids) -> dict[int, Resources]:
    found: dict[int, Resources] = {}
    for holder in _other_holders:
        for project_id, held in holder(None if project_ids is None else list(project_ids)).items():
            found[project_id] = found.get(project_id, Resources()) + held
    return found


def holdings_from_rows() -> bool:
    """On PostgreSQL a trigger keeps quotas_holding exact; elsewhere the jobs are summed."""
    return connection.vendor == "postgresql"


def _resources(row: dict) -> Resources:
    return Resources(
        jobs=row["jobs"] or 0,
        gpus=row["gpus"] or 0,
        cpu=row["cpu"] or Decimal(0),
        memory_mib=row["memory_mib"] or 0,
    )


def holdings(project_ids) -> dict[int, Resources]:
    """What the jobs of each project hold now (the active ones, and ended ones whose Pods still
    linger on the cluster)."""
    held = {pk: Resources() for pk in project_ids}
    if holdings_from_rows():
        rows = Holding.objects.filter(project_id__in=project_ids).values(
            "project_id", "jobs", "gpus", "cpu", "memory_mib"
        )
    else:
        rows = (
            Job.objects.filter(project_id__in=project_ids)
            .holding()
            .values("project_id")
            .annotate(jobs=Count("pk"), gpus=Sum("gpus"), cpu=Sum("cpu"), memory_mib=Sum("memory_mib"))
            .order_by()
        )
    for row in rows:
        held[row["project_id"]] = _resources(row)
    for project_id, other in _others(project_ids).items():
        held[project_id] = held.get(project_id, Resources()) + other
    return held


def in_use(project_id: int) -> Resources:
    """What the project's active jobs hold now."""
    return holdings([project_id])[project_id]


def cluster_in_use() -> Resources:
    """What every project's active jobs hold now, together (one row per project on PostgreSQL)."""
    if holdings_from_rows():
        source, jobs = Holding.objects.all(), Sum("jobs")
    else:
        source, jobs = Job.objects.holding(), Count("pk")
    total = _resources(
        source.aggregate(jobs=jobs, gpus=Sum("gpus"), cpu=Sum("cpu"), memory_mib=Sum("memory_mib"))
    )
    for other in _others(None).values():
        total = total + other
    return total


def members_in_use(project_ids) -> dict[tuple[int, int], Resources]:
    """What each member's jobs hold now in these projects: ``{(project_id, user_id): Resources}``
    (jobs and GPUs: the parts a member's cap limits)."""
    rows = (
        Job.objects.filter(project_id__in=project_ids)
        .holding()
        .values("project_id", "submitter_id")
        .annotate(jobs=Count("pk"), gpus=Sum("gpus"))
        .order_by()
    )
    return {
        (row["project_id"], row["submitter_id"]): Resources(jobs=row["jobs"], gpus=row["gpus"] or 0)
        for row in rows
    }


def member_in_use(project_id: int, user_id: int) -> Resources:
    totals = (
        Job.objects.filter(project_id=project_id, submitter_id=user_id)
        .holding()
        .aggregate(jobs=Count("pk"), gpus=Sum("gpus"))
    )
    return Resources(jobs=totals["jobs"], gpus=totals["gpus"] or 0)


def projects_waiting() -> list[int]:
    if holdings_from_rows():
        return list(Holding.objects.filter(queued_jobs__gt=0).values_list("project_id", flat=True))
    return list(
        Job.objects.filter(status=JobStatus.QUEUED).values_list("project_id", flat=True).distinct().order_by()
    )
