"""What the quota pages show: each part of a quota beside what is in use, ready for bars."""

from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext_lazy as _

from . import admission
from .actions import ensure_quota


@dataclass
class Bar:
    key: str
    label: str
    used: Decimal | int
    limit: Decimal | int
    unit: str = ""
    reserved: Decimal | int = 0

    @property
    def percent(self) -> int:
        if not self.limit:
            return 100 if self.used else 0
        return min(round(100 * float(self.used + self.reserved) / float(self.limit)), 100)

    @property
    def remaining(self):
        return max(self.limit - self.used - self.reserved, 0)

    @property
    def over(self) -> bool:
        return self.used > self.limit


def quota_summary(project) -> dict:
    """The quota, what the project's jobs hold now and the budget of the current period:
    a bounded number of queries (quota, holding, two budget sums)."""
    quota = ensure_quota(project)
    held = admission.in_use(project.pk)
    budget = admission.budget_of(quota)
    concurrent = [
        Bar("gpus", _("GPUs"), held.gpus, quota.max_gpus),
        Bar("cpu", _("CPU cores"), held.cpu.normalize(), quota.max_cpu.normalize()),
        Bar("memory_mib", _("Memory (MiB)"), held.memory_mib, quota.max_memory_mib),
        Bar("jobs", _("Running jobs"), held.jobs, quota.max_running_jobs),
    ]
    budgets = [
        Bar(
            "gpu_hours",
            _("GPU-hours"),
            budget.gpu_hours_used,
            budget.gpu_hours,
            reserved=budget.gpu_hours_reserved,
        ),
        Bar(
            "cpu_hours",
            _("CPU-hours"),
            budget.cpu_hours_used,
            budget.cpu_hours,
            reserved=budget.cpu_hours_reserved,
        ),
    ]
    return {"quota": quota, "held": held, "budget": budget, "concurrent": concurrent, "budgets": budgets}
