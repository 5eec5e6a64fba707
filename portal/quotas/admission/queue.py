"""``admit_all``: move queued jobs to ``dispatching`` while each project stays within its quota (and
each member within their cap, and the cluster within its capacity), under one lock row."""

import heapq

from django.db import connection, transaction

from clusterjobs.admission import ADMITTED, WAITING_FOR_CLUSTER, WAITING_FOR_MEMBER_CAP, WAITING_FOR_QUOTA
from clusterjobs.lifecycle import move_job
from clusterjobs.models import Job, JobStatus

from ..models import AdmissionLock, MemberCap, Quota
from .held import cluster_in_use, holdings, members_in_use, projects_waiting
from .resources import Resources, cluster_capacity, quota_limits
from .rules import within_cap


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
        waiting = projects_waiting()
        if not waiting:
            return admitted
        limits = {
            quota.project_id: quota_limits(quota) for quota in Quota.objects.filter(project_id__in=waiting)
        }
        held = holdings(list(limits))
        capacity = cluster_capacity()
        cluster = cluster_in_use() if capacity.bounded else None

        caps: dict[tuple[int, int], MemberCap] = {
            (cap.membership.project_id, cap.membership.user_id): cap
            for cap in MemberCap.objects.filter(membership__project_id__in=list(limits)).select_related(
                "membership"
            )
        }
        members = members_in_use({project_id for project_id, _user in caps}) if caps else {}

        def member_full(job: Job) -> bool:
            key = (job.project_id, job.submitter_id)
            return not within_cap(caps.get(key), members.get(key, Resources()), Resources.of_job(job))

        queues = _queues(list(limits))
        heap: list[tuple] = []
        capped: list[int] = []
        blocked: list[int] = []

        def push(project_id: int) -> None:
            job, skipped = queues[project_id].head(member_full)
            capped.extend(job.pk for job in skipped)
            if job is not None:
                share = held[project_id].share_of(limits[project_id])
                heapq.heappush(heap, (share, job.created_at, job.pk, project_id))

        for project_id in queues:
            if held[project_id].jobs >= limits[project_id].jobs:
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
            asked = Resources.of_job(job)
            if not (held[project_id] + asked).fits_within(limits[project_id]):
                # First in, first out: a later, smaller job does not overtake the head of the queue.
                blocked.append(job.pk)
                continue
            if cluster is not None and not (cluster + asked).fits_within(capacity):
                _mark_waiting([job.pk] + [entry[2] for entry in heap], WAITING_FOR_CLUSTER)
                heap.clear()
                break
            queue.buffer.pop(0)
            if move_job(job.pk, JobStatus.DISPATCHING, ADMITTED):
                admitted.append(job.pk)
                held[project_id] += asked
                if cluster is not None:
                    cluster += asked
                key = (project_id, job.submitter_id)
                if key in caps:
                    members[key] = members.get(key, Resources()) + asked
            push(project_id)

        _mark_waiting(blocked, WAITING_FOR_QUOTA)
        _mark_waiting(capped, WAITING_FOR_MEMBER_CAP)
    return admitted
