"""Admission: does a job fit its project's quota, now or ever?

``check_submission`` (``rules.py``) refuses at submission what can never fit: over the per-job
time limit, more than the project (or the member, or the whole cluster) may ever hold, or more
than the GPU-hour/CPU-hour budget of the current period still allows. Called inside the
submitting transaction, it locks the project's quota row, so two submissions cannot both spend
the last of a budget.

``admit_all`` (``queue.py``) moves queued jobs to ``dispatching`` while each project stays within
its quota (and each member within their cap, and the cluster within its capacity): first in,
first out within a project, and across projects the one using the smallest share of its quota
first. It runs under one lock row, so concurrent submissions and finishing jobs can never admit
more than the quota allows; call it after the submitting transaction commits, never inside a
transaction that has already moved jobs (it would wait on their rows).

Every comparison is one of ``Resources`` (``resources.py``): what is held (``held.py``) plus what
a job asks, within what a quota, a member's cap or the cluster allows.

The jobs app asks these rules through its door, ``clusterjobs.admission``, where
``QuotasConfig.ready`` installs ``QuotaPolicy``: jobs know nothing of quotas.
"""

from clusterjobs.admission import WAITING_FOR_CLUSTER, WAITING_FOR_MEMBER_CAP, WAITING_FOR_QUOTA
from clusterjobs.backends import ProjectLimits

from ..models import Quota, ensure_quota
from .held import add_holder, cluster_in_use, holdings, in_use, member_in_use
from .queue import admit_all
from .resources import Resources, cap_limits, cluster_capacity, quota_limits
from .rules import Budget, budget_of, check_submission, job_cost, lock_quota, member_cap, preview, within_cap

__all__ = [
    "WAITING_FOR_CLUSTER",
    "WAITING_FOR_MEMBER_CAP",
    "WAITING_FOR_QUOTA",
    "Budget",
    "QuotaPolicy",
    "Resources",
    "add_holder",
    "admit",
    "admit_all",
    "budget_of",
    "cap_limits",
    "check_submission",
    "cluster_capacity",
    "cluster_in_use",
    "holdings",
    "in_use",
    "job_cost",
    "lock_quota",
    "member_cap",
    "member_in_use",
    "preview",
    "project_limits",
    "quota_limits",
    "within_cap",
]


def admit() -> list[int]:
    """Admit what fits now. Capacity freed or asked for in one project may let another project's
    job go first (fairness across projects), so this admits across all projects and returns every
    admitted id; the caller dispatches them all after commit."""
    return admit_all()


def project_limits(project) -> ProjectLimits:
    """The project's quota as the execution backend enforces it again (a namespace's
    ResourceQuota and LimitRange on Kubernetes)."""
    try:
        quota = project.quota  # often loaded with the project already (select_related)
    except Quota.DoesNotExist:
        quota = ensure_quota(project)
    return ProjectLimits(
        project=project.slug,
        max_gpus=quota.max_gpus,
        max_cpu=quota.max_cpu,
        max_memory_mib=quota.max_memory_mib,
        max_running_jobs=quota.max_running_jobs,
        max_time_limit_minutes=quota.max_time_limit_minutes,
    )


class QuotaPolicy:
    """What the jobs app asks through ``clusterjobs.admission`` (installed by QuotasConfig.ready)."""

    def check_submission(self, project, **job) -> None:
        check_submission(ensure_quota(project), **job)

    def admit(self) -> list[int]:
        return admit()

    def project_limits(self, project) -> ProjectLimits:
        return project_limits(project)
