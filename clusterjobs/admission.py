"""Admission: does a job fit its project's quota, now or ever?

``check_submission`` refuses at submission what can never fit: over the per-job time limit,
more than the project (or the member, or the whole cluster) may ever hold, or more than the
GPU-hour/CPU-hour budget of the current period still allows. Called inside the submitting
transaction, it locks the project's quota row, so two submissions cannot both spend the
last of a budget.

``admit_all`` moves queued jobs to ``dispatching`` while each project stays within its quota
(and each member within their cap, and the cluster within its capacity): first in, first out
within a project, and across projects the one using the smallest share of its quota first.
It runs under one lock row, so concurrent submissions and finishing jobs can never admit more
than the quota allows; call it after the submitting transaction commits, never inside a
transaction that has already moved jobs (it would wait on their rows).
"""

import heapq
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from portal.quotas.models import AdmissionLock, Holding, MemberCap, Quota
from portal.quotas.periods import period_window, ran_within, reserved_hours, sums, to_usage

from .lifecycle import move_job
from .models import Job, JobStatus

# Stored in English, as the API shows them; pages translate them (reasons.py).
WAITING_FOR_QUOTA = gettext_noop("waiting for quota")
WAITING_FOR_MEMBER_CAP = gettext_noop("waiting for the member's cap")
WAITING_FOR_CLUSTER = gettext_noop("waiting for free cluster capacity")
NOT_STARTED = (JobStatus.QUEUED, JobStatus.DISPATCHING, JobStatus.PENDING)


# --- what is held now --------------------------------------------------------------------------


def _empty() -> dict:
    return {"jobs": 0, "gpus": 0, "cpu": Decimal(0), "memory_mib": 0}


def _holdings_from_rows() -> bool:
    """On PostgreSQL a trigger keeps quotas_holding exact; elsewhere the jobs are summed."""
    return connection.vendor == "postgresql"


def holdings(project_ids) -> dict[int, dict]:
    """What the jobs of each project hold now (the active ones, and ended ones whose Pods still
    linger on the cluster): ``{project_id: {jobs, gpus, cpu, memory_mib}}``."""
    held = {pk: _empty() for pk in project_ids}
    if _holdings_from_rows():
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
        held[row["project_id"]] = {
            "jobs": row["jobs"] or 0,
            "gpus": row["gpus"] or 0,
            "cpu": row["cpu"] or Decimal(0),
            "memory_mib": row["memory_mib"] or 0,
        }
    return held


def in_use(project_id: int) -> dict:
    """What the project's active jobs hold now."""
    return holdings([project_id])[project_id]


def cluster_in_use() -> dict:
    """What every project's active jobs hold now, together (one row per project on PostgreSQL)."""
    if _holdings_from_rows():
        source, jobs = Holding.objects.all(), Sum("jobs")
    else:
        source, jobs = Job.objects.holding(), Count("pk")
    totals = source.aggregate(jobs=jobs, gpus=Sum("gpus"), cpu=Sum("cpu"), memory_mib=Sum("memory_mib"))
    return {
        "jobs": totals["jobs"] or 0,
        "gpus": totals["gpus"] or 0,
        "cpu": totals["cpu"] or Decimal(0),
        "memory_mib": totals["memory_mib"] or 0,
    }


def _projects_waiting() -> list[int]:
    if _holdings_from_rows():
        return list(Holding.objects.filter(queued_jobs__gt=0).values_list("project_id", flat=True))
    return list(
        Job.objects.filter(status=JobStatus.QUEUED).values_list("project_id", flat=True).distinct().order_by()
    )


def member_in_use(project_id: int, user_id: int) -> dict:
    totals = (
        Job.objects.filter(project_id=project_id, submitter_id=user_id)
        .holding()
        .aggregate(jobs=Count("pk"), gpus=Sum("gpus"))
    )
    return {"jobs": totals["jobs"], "gpus": totals["gpus"] or 0}


# --- capacity of the cluster -------------------------------------------------------------------


def cluster_capacity() -> dict:
    """What the cluster holds at most; a 0 in the settings means unlimited (None here)."""
    return {
        "gpus": settings.TALLER_CLUSTER_GPUS or None,
        "cpu": Decimal(settings.TALLER_CLUSTER_CPU) if settings.TALLER_CLUSTER_CPU else None,
        "memory_mib": settings.TALLER_CLUSTER_MEMORY_MIB or None,
    }


def _fits_cluster(capacity: dict, used: dict, job) -> bool:
    return all(capacity[key] is None or used[key] + getattr(job, key) <= capacity[key] for key in capacity)


# --- budget of the period ----------------------------------------------------------------------


@dataclass
class Budget:
    """A project's GPU-hour and CPU-hour budget in the current period, and what is spent of it:
    what jobs used (running ones up to now) plus what jobs not yet started may use at most."""

    period_label: str
    period_start: datetime
    period_end: datetime
    gpu_hours: Decimal
    cpu_hours: Decimal
    gpu_hours_used: Decimal
    cpu_hours_used: Decimal
    gpu_hours_reserved: Decimal
    cpu_hours_reserved: Decimal

    @property
    def gpu_hours_remaining(self) -> Decimal:
        return max(self.gpu_hours - self.gpu_hours_used - self.gpu_hours_reserved, Decimal(0))

    @property
    def cpu_hours_remaining(self) -> Decimal:
        return max(self.cpu_hours - self.cpu_hours_used - self.cpu_hours_reserved, Decimal(0))


def budget_of(quota: Quota, now: datetime | None = None) -> Budget:
    now = now or timezone.now()
    window = period_window(quota.period, now)
    jobs = Job.objects.filter(project_id=quota.project_id)
    used = to_usage(ran_within(jobs, window, now).aggregate(**sums()))
    gpu_reserved, cpu_reserved = reserved_hours(jobs.filter(status__in=NOT_STARTED, started_at__isnull=True))
    return Budget(
        period_label=window.label,
        period_start=window.start,
        period_end=window.end,
        gpu_hours=quota.gpu_hours_per_period,
        cpu_hours=quota.cpu_hours_per_period,
        gpu_hours_used=used.gpu_hours,
        cpu_hours_used=used.cpu_hours,
        gpu_hours_reserved=gpu_reserved,
        cpu_hours_reserved=cpu_reserved,
    )


def job_cost(*, cpu: Decimal, gpus: int, time_limit_minutes: int) -> tuple[Decimal, Decimal]:
    """(GPU-hours, CPU-hours) a job may use at most: its resources for its whole time limit."""
    hours = Decimal(time_limit_minutes) / 60
    return (Decimal(gpus) * hours).quantize(Decimal("0.01")), (Decimal(cpu) * hours).quantize(Decimal("0.01"))


# --- submission --------------------------------------------------------------------------------


def lock_quota(project_id: int) -> Quota:
    """The project's quota, its row locked until the surrounding transaction ends."""
    return Quota.objects.select_for_update().get(project_id=project_id)


def member_cap(project_id: int, user_id: int) -> MemberCap | None:
    return MemberCap.objects.filter(membership__project_id=project_id, membership__user_id=user_id).first()


def check_submission(
    quota: Quota,
    *,
    cpu: Decimal,
    memory_mib: int,
    gpus: int,
    time_limit_minutes: int,
    submitter=None,
    now: datetime | None = None,
    lock: bool = True,
) -> None:
    """Raise a ValidationError, per field, for a job that no amount of waiting would let run.

    Inside a transaction (as ``submit_job`` calls it, before creating the job) the quota row is
    locked until commit, so the budget check and the new job are one step for other submitters.
    """
    if lock and transaction.get_connection().in_atomic_block:
        quota = lock_quota(quota.project_id)
    cpu = Decimal(cpu)
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if time_limit_minutes > quota.max_time_limit_minutes:
        add(
            "time_limit_minutes",
            _("The project allows at most %(n)s minutes per job.") % {"n": quota.max_time_limit_minutes},
        )
    if gpus > quota.max_gpus:
        add("gpus", _("The project may hold at most %(n)s GPUs at once.") % {"n": quota.max_gpus})
    if cpu > quota.max_cpu:
        add(
            "cpu",
            _("The project may hold at most %(n)s CPU cores at once.") % {"n": quota.max_cpu.normalize()},
        )
    if memory_mib > quota.max_memory_mib:
        add(
            "memory_mib",
            _("The project may hold at most %(n)s MiB of memory at once.") % {"n": quota.max_memory_mib},
        )
    if quota.max_running_jobs < 1:
        add("__all__", _("The project's quota allows no running jobs; ask a site admin for a quota."))

    capacity = cluster_capacity()
    for field, label in (("gpus", _("GPUs")), ("cpu", _("CPU cores")), ("memory_mib", _("MiB of memory"))):
        value = {"gpus": gpus, "cpu": cpu, "memory_mib": memory_mib}[field]
        if capacity[field] is not None and value > capacity[field]:
            add(
                field, _("The whole cluster has only %(n)s %(what)s.") % {"n": capacity[field], "what": label}
            )

    if submitter is not None:
        cap = member_cap(quota.project_id, submitter.pk)
        if cap is not None and cap.max_gpus is not None and gpus > cap.max_gpus:
            add("gpus", _("Your cap in this project is %(n)s GPUs at once.") % {"n": cap.max_gpus})
        if cap is not None and cap.max_running_jobs == 0:
            add("__all__", _("Your cap in this project allows no running jobs."))

    if not errors:
        _check_budget(quota, cpu=cpu, gpus=gpus, time_limit_minutes=time_limit_minutes, now=now, add=add)
    if errors:
        raise ValidationError(errors)


def _check_budget(quota: Quota, *, cpu, gpus, time_limit_minutes, now, add) -> None:
    gpu_cost, cpu_cost = job_cost(cpu=cpu, gpus=gpus, time_limit_minutes=time_limit_minutes)
    if gpu_cost <= 0 and cpu_cost <= 0:
        return
    budget = budget_of(quota, now)
    if gpu_cost > 0 and gpu_cost > budget.gpu_hours_remaining:
        if budget.gpu_hours_remaining <= 0:
            message = _("The project's GPU-hour budget for %(period)s is used up (%(budget)s GPU-hours).")
        else:
            message = _(
                "This job may use %(cost)s GPU-hours, but only %(left)s of the project's %(budget)s "
                "GPU-hours for %(period)s are left: ask for fewer GPUs or a shorter time limit."
            )
        add(
            "gpus",
            message
            % {
                "cost": gpu_cost,
                "left": budget.gpu_hours_remaining,
                "budget": budget.gpu_hours,
                "period": budget.period_label,
            },
        )
    if cpu_cost > 0 and cpu_cost > budget.cpu_hours_remaining:
        if budget.cpu_hours_remaining <= 0:
            message = _("The project's CPU-hour budget for %(period)s is used up (%(budget)s CPU-hours).")
        else:
            message = _(
                "This job may use %(cost)s CPU-hours, but only %(left)s of the project's %(budget)s "
                "CPU-hours for %(period)s are left: ask for fewer cores or a shorter time limit."
            )
        add(
            "cpu",
            message
            % {
                "cost": cpu_cost,
                "left": budget.cpu_hours_remaining,
                "budget": budget.cpu_hours,
                "period": budget.period_label,
            },
        )


# --- admission ---------------------------------------------------------------------------------


def fits(quota: Quota, used: dict, job) -> bool:
    return (
        used["jobs"] + 1 <= quota.max_running_jobs
        and used["gpus"] + job.gpus <= quota.max_gpus
        and used["cpu"] + job.cpu <= quota.max_cpu
        and used["memory_mib"] + job.memory_mib <= quota.max_memory_mib
    )


def share(quota: Quota, used: dict) -> float:
    """The largest fraction of any part of its quota that the project holds (its dominant share)."""
    parts = [
        (used["jobs"], quota.max_running_jobs),
        (used["gpus"], quota.max_gpus),
        (used["cpu"], quota.max_cpu),
        (used["memory_mib"], quota.max_memory_mib),
    ]
    return max((float(held) / float(limit) for held, limit in parts if limit), default=1.0)


def _add(used: dict, job) -> None:
    used["jobs"] += 1
    used["gpus"] += job.gpus
    used["cpu"] += job.cpu
    used["memory_mib"] += job.memory_mib


class _Queue:
    """A project's queued jobs in submission order, read a few at a time."""

    CHUNK = 16
    FIELDS = ("pk", "project_id", "submitter_id", "gpus", "cpu", "memory_mib", "created_at", "status_reason")

    def __init__(self, project_id: int, head: Job | None = None) -> None:
        self.project_id = project_id
        self.buffer: list[Job] = [head] if head is not None else []
        self.after: tuple | None = (head.created_at, head.pk) if head is not None else None
        self.exhausted = False

    def _fill(self) -> None:
        jobs = Job.objects.filter(project_id=self.project_id, status=JobStatus.QUEUED)
        if self.after is not None:
            created_at, pk = self.after
            jobs = jobs.filter(created_at__gte=created_at).exclude(created_at=created_at, pk__lte=pk)
        chunk = list(jobs.order_by("created_at", "pk").only(*self.FIELDS)[: self.CHUNK])
        if len(chunk) < self.CHUNK:
            self.exhausted = True
        if chunk:
            self.after = (chunk[-1].created_at, chunk[-1].pk)
        self.buffer.extend(chunk)

    def head(self, skip) -> tuple[Job | None, list[Job]]:
        """The first job not held back by ``skip(job)``, and the jobs skipped to reach it."""
        skipped = []
        while True:
            if not self.buffer:
                if self.exhausted:
                    return None, skipped
                self._fill()
                continue
            job = self.buffer[0]
            if skip(job):
                skipped.append(self.buffer.pop(0))
                continue
            return job, skipped


HEADS_SQL = """
SELECT j.id, j.project_id, j.submitter_id, j.gpus, j.cpu, j.memory_mib, j.created_at, j.status_reason
FROM unnest(%s::bigint[]) AS p(id)
CROSS JOIN LATERAL (
    SELECT * FROM clusterjobs_job
    WHERE project_id = p.id AND status = 'queued'
    ORDER BY created_at, id
    LIMIT 1
) AS j
"""


def _queues(project_ids: list[int]) -> dict[int, _Queue]:
    """Each project's queue, its first job read for all projects in one query on PostgreSQL
    (an index lookup per project, whatever the number of jobs behind them)."""
    if connection.vendor != "postgresql":
        return {project_id: _Queue(project_id) for project_id in project_ids}
    heads = {job.project_id: job for job in Job.objects.raw(HEADS_SQL, [list(project_ids)])}
    return {
        project_id: _Queue(project_id, heads.get(project_id))
        for project_id in project_ids
        if project_id in heads
    }


def _take_admission_lock() -> None:
    """Hold the admission row until the transaction ends. On SQLite (the embedded default), where
    FOR UPDATE does not exist, an UPDATE takes the database's write lock at once instead."""
    if connection.vendor == "postgresql":
        locked = AdmissionLock.objects.select_for_update().filter(pk=1).exists()
    else:
        locked = AdmissionLock.objects.filter(pk=1).update(id=1) == 1
    if not locked:
        AdmissionLock.objects.bulk_create([AdmissionLock(pk=1)], ignore_conflicts=True)
        AdmissionLock.objects.select_for_update().filter(pk=1).exists()


def _mark_waiting(job_ids: list[int], reason: str) -> None:
    if job_ids:
        Job.objects.filter(pk__in=job_ids, status=JobStatus.QUEUED).exclude(status_reason=reason).update(
            status_reason=reason
        )


def admit_all() -> list[int]:
    """Admit what fits, across every project; returns the admitted job ids, to dispatch after commit.

    Each project's queue is first in, first out (a member at their cap is passed over, the
    project's next job is not). Across projects the one holding the smallest share of its quota
    goes next. When the head of that queue does not fit the free capacity of the cluster,
    admission stops there, so that a large job is not overtaken for ever by smaller ones.
    """
    admitted: list[int] = []
    with transaction.atomic():
        _take_admission_lock()
        waiting = _projects_waiting()
        if not waiting:
            return admitted
        quotas = {quota.project_id: quota for quota in Quota.objects.filter(project_id__in=waiting)}
        held = holdings(list(quotas))
        capacity = cluster_capacity()
        cluster = cluster_in_use() if any(v is not None for v in capacity.values()) else None

        caps: dict[tuple[int, int], MemberCap] = {
            (cap.membership.project_id, cap.membership.user_id): cap
            for cap in MemberCap.objects.filter(membership__project_id__in=list(quotas)).select_related(
                "membership"
            )
        }
        members: dict[tuple[int, int], dict] = {}
        if caps:
            capped_projects = {project_id for project_id, _user in caps}
            for row in (
                Job.objects.filter(project_id__in=capped_projects)
                .holding()
                .values("project_id", "submitter_id")
                .annotate(jobs=Count("pk"), gpus=Sum("gpus"))
                .order_by()
            ):
                members[(row["project_id"], row["submitter_id"])] = {
                    "jobs": row["jobs"],
                    "gpus": row["gpus"] or 0,
                }

        def member_full(job: Job) -> bool:
            cap = caps.get((job.project_id, job.submitter_id))
            if cap is None:
                return False
            used = members.get((job.project_id, job.submitter_id), {"jobs": 0, "gpus": 0})
            return (cap.max_running_jobs is not None and used["jobs"] + 1 > cap.max_running_jobs) or (
                cap.max_gpus is not None and used["gpus"] + job.gpus > cap.max_gpus
            )

        queues = _queues(list(quotas))
        heap: list[tuple] = []
        capped: list[int] = []
        blocked: list[int] = []

        def push(project_id: int) -> None:
            job, skipped = queues[project_id].head(member_full)
            capped.extend(job.pk for job in skipped)
            if job is not None:
                quota = quotas[project_id]
                heapq.heappush(heap, (share(quota, held[project_id]), job.created_at, job.pk, project_id))

        for project_id in queues:
            quota = quotas[project_id]
            if held[project_id]["jobs"] >= quota.max_running_jobs:
                # Full already: nothing of this project can go; its head waits for quota.
                job, _skipped = queues[project_id].head(lambda job: False)
                if job is not None:
                    blocked.append(job.pk)
                continue
            push(project_id)

        while heap:
            _share, _created, _pk, project_id = heapq.heappop(heap)
            queue = queues[project_id]
            job = queue.buffer[0]
            if not fits(quotas[project_id], held[project_id], job):
                # First in, first out: a later, smaller job does not overtake the head of the queue.
                blocked.append(job.pk)
                continue
            if cluster is not None and not _fits_cluster(capacity, cluster, job):
                _mark_waiting([job.pk] + [entry[2] for entry in heap], WAITING_FOR_CLUSTER)
                heap.clear()
                break
            queue.buffer.pop(0)
            if move_job(job.pk, JobStatus.DISPATCHING, _("admitted within the project's quota")):
                admitted.append(job.pk)
                _add(held[project_id], job)
                if cluster is not None:
                    _add(cluster, job)
                key = (project_id, job.submitter_id)
                if key in caps:
                    used = members.setdefault(key, {"jobs": 0, "gpus": 0})
                    used["jobs"] += 1
                    used["gpus"] += job.gpus
            push(project_id)

        _mark_waiting(blocked, WAITING_FOR_QUOTA)
        _mark_waiting(capped, WAITING_FOR_MEMBER_CAP)
    return admitted


def admit(project_id: int | None = None) -> list[int]:
    """Admit what fits now. Capacity freed or asked for in one project may let another project's
    job go first (fairness across projects), so this admits across all projects and returns every
    admitted id; the caller dispatches them all after commit."""
    return admit_all()


def preview(
    quota: Quota, *, cpu: Decimal, memory_mib: int, gpus: int, time_limit_minutes: int, submitter=None
) -> dict:
    """What would happen to such a job now: ``{"outcome": "starts"|"waits"|"rejected", "errors",
    "gpu_hours", "cpu_hours", "budget"}``. Reads only; takes no lock."""
    cpu = Decimal(cpu)
    gpu_cost, cpu_cost = job_cost(cpu=cpu, gpus=gpus, time_limit_minutes=time_limit_minutes)
    result = {"gpu_hours": gpu_cost, "cpu_hours": cpu_cost, "errors": {}, "reason": ""}
    result["budget"] = budget_of(quota)
    try:
        check_submission(
            quota,
            cpu=cpu,
            memory_mib=memory_mib,
            gpus=gpus,
            time_limit_minutes=time_limit_minutes,
            submitter=submitter,
            lock=False,
        )
    except ValidationError as error:
        result["outcome"] = "rejected"
        result["errors"] = error.message_dict
        return result
    job = Job(project_id=quota.project_id, gpus=gpus, cpu=cpu, memory_mib=memory_mib)
    queued_ahead = Job.objects.filter(project_id=quota.project_id, status=JobStatus.QUEUED).exists()
    if queued_ahead:
        result["outcome"], result["reason"] = "waits", _("Earlier jobs of the project are waiting.")
    elif not fits(quota, in_use(quota.project_id), job):
        result["outcome"], result["reason"] = "waits", _("The project's jobs hold its quota now.")
    elif (
        submitter is not None
        and (cap := member_cap(quota.project_id, submitter.pk))
        and _over_cap(cap, quota.project_id, submitter.pk, job)
    ):
        result["outcome"], result["reason"] = "waits", _("Your jobs hold your cap in this project now.")
    elif any(v is not None for v in cluster_capacity().values()) and not _fits_cluster(
        cluster_capacity(), cluster_in_use(), job
    ):
        result["outcome"], result["reason"] = "waits", _("The cluster is full now.")
    else:
        result["outcome"] = "starts"
    return result


def _over_cap(cap: MemberCap, project_id: int, user_id: int, job) -> bool:
    used = member_in_use(project_id, user_id)
    return (cap.max_running_jobs is not None and used["jobs"] + 1 > cap.max_running_jobs) or (
        cap.max_gpus is not None and used["gpus"] + job.gpus > cap.max_gpus
    )
