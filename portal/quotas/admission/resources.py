"""``Resources``: what jobs hold (or a job asks for) and what a quota, a member's cap or the
cluster allows, as one small value type, so that every admission rule is the same comparison."""

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

FIELDS = ("jobs", "gpus", "cpu", "memory_mib")


@dataclass(frozen=True, slots=True)
class Resources:
    """Running jobs, GPUs, CPU cores and MiB of memory. As a limit, ``None`` means unlimited.

    (Named for what is held, not ``Usage``: ``periods.Usage`` is the GPU-hours and CPU-hours a
    project used in a period.)"""

    jobs: int | None = 0
    gpus: int | None = 0
    cpu: Decimal | None = Decimal(0)
    memory_mib: int | None = 0

    @classmethod
    def of_job(cls, job) -> "Resources":
        """What one job holds while it runs (a ``Job`` or anything with its resource fields)."""
        return cls(jobs=1, gpus=job.gpus, cpu=Decimal(job.cpu), memory_mib=job.memory_mib)

    def __add__(self, other: "Resources") -> "Resources":
        return Resources(
            jobs=self.jobs + other.jobs,
            gpus=self.gpus + other.gpus,
            cpu=self.cpu + other.cpu,
            memory_mib=self.memory_mib + other.memory_mib,
        )

    def over(self, limit: "Resources") -> list[str]:
        """The fields in which this holds more than ``limit`` allows, in the order of ``FIELDS``."""
        return [
            name
            for name in FIELDS
            if (bound := getattr(limit, name)) is not None and getattr(self, name) > bound
        ]

    def fits_within(self, limit: "Resources") -> bool:
        return not self.over(limit)

    def share_of(self, limit: "Resources") -> float:
        """The largest fraction of any part of ``limit`` held (the dominant share); parts without a
        limit (0 or None) do not count."""
        return max(
            (float(getattr(self, name)) / float(bound) for name in FIELDS if (bound := getattr(limit, name))),
            default=1.0,
        )

    @property
    def bounded(self) -> bool:
        """Whether, as a limit, this limits anything."""
        return any(getattr(self, name) is not None for name in FIELDS)


def quota_limits(quota) -> Resources:
    """What a project's quota lets it hold at once."""
    return Resources(
        jobs=quota.max_running_jobs, gpus=quota.max_gpus, cpu=quota.max_cpu, memory_mib=quota.max_memory_mib
    )


def cap_limits(cap) -> Resources:
    """What a member's cap lets their jobs in the project hold at once (unset parts: unlimited)."""
    return Resources(jobs=cap.max_running_jobs, gpus=cap.max_gpus, cpu=None, memory_mib=None)


def cluster_capacity() -> Resources:
    """What the cluster holds at most; a 0 in the settings means unlimited (None here)."""
    return Resources(
        jobs=None,
        gpus=settings.TALLER_CLUSTER_GPUS or None,
        cpu=Decimal(settings.TALLER_CLUSTER_CPU) if settings.TALLER_CLUSTER_CPU else None,
        memory_mib=settings.TALLER_CLUSTER_MEMORY_MIB or None,
    )
