"""A deployment's replicas against its project's quota: what live deployments hold (added to what
jobs hold by ``portal.quotas``), and the refusal of a deployment that would not fit."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import F, Sum
from django.utils.translation import gettext_lazy

from portal.quotas.admission import Resources, in_use, lock_quota, quota_limits
from portal.quotas.models import ensure_quota

from .models import Deployment

OVER = {
    "gpus": gettext_lazy(
        "%(replicas)s replicas need %(asked)s GPUs, but the project may hold %(limit)s at once and "
        "holds %(held)s already."
    ),
    "cpu": gettext_lazy(
        "%(replicas)s replicas need %(asked)s CPU cores, but the project may hold %(limit)s at once "
        "and holds %(held)s already."
    ),
    "memory_mib": gettext_lazy(
        "%(replicas)s replicas need %(asked)s MiB of memory, but the project may hold %(limit)s at "
        "once and holds %(held)s already."
    ),
}


def resources_of(replicas: int, cpu: Decimal, memory_mib: int, gpus: int) -> Resources:
    """What ``replicas`` replicas hold together (no running job: ``jobs`` counts jobs only)."""
    return Resources(
        jobs=0, gpus=replicas * gpus, cpu=replicas * Decimal(cpu), memory_mib=replicas * memory_mib
    )


def held_by_deployments(project_ids: list[int] | None) -> dict[int, Resources]:
    """What the live deployments of these projects (None: of all) hold, one query."""
    live = Deployment.objects.live()
    if project_ids is not None:
        live = live.filter(project_id__in=project_ids)
    rows = (
        live.values("project_id")
        .annotate(
            gpus=Sum(F("gpus") * F("replicas")),
            cpu=Sum(F("cpu") * F("replicas")),
            memory_mib=Sum(F("memory_mib") * F("replicas")),
        )
        .order_by()
    )
    return {
        row["project_id"]: Resources(
            jobs=0, gpus=row["gpus"] or 0, cpu=Decimal(row["cpu"] or 0), memory_mib=row["memory_mib"] or 0
        )
        for row in rows
    }


def check_fits(
    project, *, replicas: int, cpu, memory_mib: int, gpus: int, replacing: Deployment | None = None
):
    """Refuse, per field, replicas that the project's quota cannot hold beside what it holds now
    (the deployment being changed, ``replacing``, counted once). Call inside the writing
    transaction: the quota row stays locked until it commits."""
    quota = lock_quota(ensure_quota(project).project_id)
    held = in_use(project.pk)
    if replacing is not None and replacing.is_live():
        own = resources_of(replacing.replicas, replacing.cpu, replacing.memory_mib, replacing.gpus)
        held = held + Resources(jobs=0, gpus=-own.gpus, cpu=-own.cpu, memory_mib=-own.memory_mib)
    asked = resources_of(replicas, cpu, memory_mib, gpus)
    limits = quota_limits(quota)
    limits = Resources(jobs=None, gpus=limits.gpus, cpu=limits.cpu, memory_mib=limits.memory_mib)
    errors = {}
    for part in (held + asked).over(limits):
        values = {
            "replicas": replicas,
            "asked": _plain(getattr(asked, part)),
            "limit": _plain(getattr(limits, part)),
            "held": _plain(getattr(held, part)),
        }
        errors[part] = [str(OVER[part]) % values]
    if errors:
        raise ValidationError(errors)


def _plain(value):
    return value.normalize() if isinstance(value, Decimal) else value
