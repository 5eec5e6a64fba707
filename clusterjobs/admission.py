"""Admission: does a job fit its project's quota, now or ever?

``check_submission`` refuses at submission what can never fit. ``admit`` moves queued jobs
to ``dispatching`` while the project's concurrent use stays within its quota, first in first
out, under a row lock on the quota so that concurrent submissions and finishing jobs cannot
admit more than the quota allows.
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Sum
from django.utils.translation import gettext as _

from portal.quotas.models import Quota

from .lifecycle import move_job
from .models import Job, JobStatus

WAITING_FOR_QUOTA = "waiting for quota"


def check_submission(
    quota: Quota, *, cpu: Decimal, memory_mib: int, gpus: int, time_limit_minutes: int
) -> None:
    """Raise a ValidationError, per field, for a job that no amount of waiting would let run."""
    errors = {}
    if time_limit_minutes > quota.max_time_limit_minutes:
        errors["time_limit_minutes"] = _("The project allows at most %(n)s minutes per job.") % {
            "n": quota.max_time_limit_minutes
        }
    if gpus > quota.max_gpus:
        errors["gpus"] = _("The project may hold at most %(n)s GPUs at once.") % {"n": quota.max_gpus}
    if cpu > quota.max_cpu:
        errors["cpu"] = _("The project may hold at most %(n)s CPU cores at once.") % {"n": quota.max_cpu}
    if memory_mib > quota.max_memory_mib:
        errors["memory_mib"] = _("The project may hold at most %(n)s MiB of memory at once.") % {
            "n": quota.max_memory_mib
        }
    if errors:
        raise ValidationError(errors)


def in_use(project_id: int) -> dict:
    """What the project's active jobs hold now."""
    totals = (
        Job.objects.filter(project_id=project_id)
        .active()
        .aggregate(jobs=Count("pk"), gpus=Sum("gpus"), cpu=Sum("cpu"), memory_mib=Sum("memory_mib"))
    )
    return {
        "jobs": totals["jobs"],
        "gpus": totals["gpus"] or 0,
        "cpu": totals["cpu"] or Decimal(0),
        "memory_mib": totals["memory_mib"] or 0,
    }


def fits(quota: Quota, used: dict, job: Job) -> bool:
    return (
        used["jobs"] + 1 <= quota.max_running_jobs
        and used["gpus"] + job.gpus <= quota.max_gpus
        and used["cpu"] + job.cpu <= quota.max_cpu
        and used["memory_mib"] + job.memory_mib <= quota.max_memory_mib
    )


def admit(project_id: int) -> list[int]:
    """Move the project's queued jobs that fit to ``dispatching``; returns their ids, to dispatch
    after commit. Jobs that do not fit stay queued with the reason "waiting for quota"."""
    admitted = []
    with transaction.atomic():
        quota = Quota.objects.select_for_update().get(project_id=project_id)
        used = in_use(project_id)
        queued = Job.objects.filter(project_id=project_id, status=JobStatus.QUEUED).order_by(
            "created_at", "pk"
        )
        for job in queued.only("pk", "gpus", "cpu", "memory_mib", "status_reason"):
            if not fits(quota, used, job):
                # First in, first out: a later, smaller job does not overtake the head of the queue.
                Job.objects.filter(project_id=project_id, status=JobStatus.QUEUED).exclude(
                    status_reason=WAITING_FOR_QUOTA
                ).update(status_reason=WAITING_FOR_QUOTA)
                break
            if move_job(job.pk, JobStatus.DISPATCHING, _("admitted within the project's quota")):
                admitted.append(job.pk)
                used["jobs"] += 1
                used["gpus"] += job.gpus
                used["cpu"] += job.cpu
                used["memory_mib"] += job.memory_mib
    return admitted
