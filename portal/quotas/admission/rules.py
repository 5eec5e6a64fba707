"""The rules of admission: what can never fit (refused at submission, per field), the budget of the
current period, a member's cap, and a preview of what a job would do now."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from clusterjobs.models import Job, JobStatus

from ..models import MemberCap, Quota
from ..periods import add_rows, other_uses, period_window, ran_within, reserved_hours, sums, to_usage
from .held import cluster_in_use, in_use, member_in_use
from .resources import Resources, cap_limits, cluster_capacity, quota_limits

NOT_STARTED = (JobStatus.QUEUED, JobStatus.DISPATCHING, JobStatus.PENDING)

# What a job alone over a limit is told, per part of the limit: (the form field, the message).
OVER_QUOTA = {
    "jobs": (
        "__all__",
        gettext_lazy("The project's quota allows no running jobs; ask a site admin for a quota."),
    ),
    "gpus": ("gpus", gettext_lazy("The project may hold at most %(n)s GPUs at once.")),
    "cpu": ("cpu", gettext_lazy("The project may hold at most %(n)s CPU cores at once.")),
    "memory_mib": ("memory_mib", gettext_lazy("The project may hold at most %(n)s MiB of memory at once.")),
}
OVER_CAP = {
    "jobs": ("__all__", gettext_lazy("Your cap in this project allows no running jobs.")),
    "gpus": ("gpus", gettext_lazy("Your cap in this project is %(n)s GPUs at once.")),
}
CLUSTER_UNITS = {
    "gpus": gettext_lazy("GPUs"),
    "cpu": gettext_lazy("CPU cores"),
    "memory_mib": gettext_lazy("MiB of memory"),
}


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


# The two budgets, checked by one rule: (the form field, the Budget's prefix, used up, too costly).
BUDGETS = (
    (
        "gpus",
        "gpu_hours",
        gettext_lazy("The project's GPU-hour budget for %(period)s is used up (%(budget)s GPU-hours)."),
        gettext_lazy(
            "This job may use %(cost)s GPU-hours, but only %(left)s of the project's %(budget)s "
            "GPU-hours for %(period)s are left: ask for fewer GPUs or a shorter time limit."
        ),
    ),
    (
        "cpu",
        "cpu_hours",
        gettext_lazy("The project's CPU-hour budget for %(period)s is used up (%(budget)s CPU-hours)."),
        gettext_lazy(
            "This job may use %(cost)s CPU-hours, but only %(left)s of the project's %(budget)s "
            "CPU-hours for %(period)s are left: ask for fewer cores or a shorter time limit."
        ),
    ),
)


def budget_of(quota: Quota, now: datetime | None = None) -> Budget:
    now = now or timezone.now()
    window = period_window(quota.period, now)
    jobs = Job.objects.filter(project_id=quota.project_id)
    row = ran_within(jobs, window, now).aggregate(**sums())
    for uses in other_uses([quota.project_id]):
        row = add_rows(row, ran_within(uses, window, now).aggregate(**sums()))
    used = to_usage(row)
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


def _check_budget(quota: Quota, *, cpu, gpus, time_limit_minutes, now, add) -> None:
    costs = job_cost(cpu=cpu, gpus=gpus, time_limit_minutes=time_limit_minutes)
    if all(cost <= 0 for cost in costs):
        return
    budget = budget_of(quota, now)
    for (field, hours, used_up, too_costly), cost in zip(BUDGETS, costs, strict=True):
        left = getattr(budget, f"{hours}_remaining")
        if cost > 0 and cost > left:
            message = used_up if left <= 0 else too_costly
            values = {
                "cost": cost,
                "left": left,
                "budget": getattr(budget, hours),
                "period": budget.period_label,
            }
            add(field, str(message) % values)


# --- member caps -------------------------------------------------------------------------------


def member_cap(project_id: int, user_id: int) -> MemberCap | None:
    return MemberCap.objects.filter(membership__project_id=project_id, membership__user_id=user_id).first()


def within_cap(cap: MemberCap | None, held: Resources, job: Resources) -> bool:
    """The one member-cap rule: the member's jobs, with this one, stay within their cap."""
    return cap is None or (held + job).fits_within(cap_limits(cap))


# --- submission --------------------------------------------------------------------------------


def lock_quota(project_id: int) -> Quota:
    """The project's quota, its row locked until the surrounding transaction ends."""
    return Quota.objects.select_for_update().get(project_id=project_id)


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
    job = Resources(jobs=1, gpus=gpus, cpu=cpu, memory_mib=memory_mib)
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if time_limit_minutes > quota.max_time_limit_minutes:
        add(
            "time_limit_minutes",
            _("The project allows at most %(n)s minutes per job.") % {"n": quota.max_time_limit_minutes},
        )
    limits = quota_limits(quota)
    for part in job.over(limits):
        field, message = OVER_QUOTA[part]
        add(field, str(message) % {"n": _plain(getattr(limits, part))})
    capacity = cluster_capacity()
    for part in job.over(capacity):
        n, what = getattr(capacity, part), CLUSTER_UNITS[part]
        add(part, _("The whole cluster has only %(n)s %(what)s.") % {"n": n, "what": what})
    cap = member_cap(quota.project_id, submitter.pk) if submitter is not None else None
    if cap is not None:
        allowed = cap_limits(cap)
        for part in job.over(allowed):
            field, message = OVER_CAP[part]
            add(field, str(message) % {"n": getattr(allowed, part)})

    if not errors:
        _check_budget(quota, cpu=cpu, gpus=gpus, time_limit_minutes=time_limit_minutes, now=now, add=add)
    if errors:
        raise ValidationError(errors)


def _plain(value):
    return value.normalize() if isinstance(value, Decimal) else value


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
    job = Resources(jobs=1, gpus=gpus, cpu=cpu, memory_mib=memory_mib)
    capacity = cluster_capacity()
    if Job.objects.filter(project_id=quota.project_id, status=JobStatus.QUEUED).exists():
        result["outcome"], result["reason"] = "waits", _("Earlier jobs of the project are waiting.")
    elif not (in_use(quota.project_id) + job).fits_within(quota_limits(quota)):
        result["outcome"], result["reason"] = "waits", _("The project's jobs hold its quota now.")
    elif (
        submitter is not None
        and (cap := member_cap(quota.project_id, submitter.pk)) is not None
        and not within_cap(cap, member_in_use(quota.project_id, submitter.pk), job)
    ):
        result["outcome"], result["reason"] = "waits", _("Your jobs hold your cap in this project now.")
    elif capacity.bounded and not (cluster_in_use() + job).fits_within(capacity):
        result["outcome"], result["reason"] = "waits", _("The cluster is full now.")
    else:
        result["outcome"] = "starts"
    return result
