"""What the watcher and reconcile apply to jobs: a status the backend reports, the end of a job (its
final log, its token, its MLflow run, the next queued jobs) and the periodic repair (reconcile).

A job ends through ``end_job`` (``lifecycle.move_job``, a conditional update, with the final log and
the token's revocation in the same commit): whoever moves it to a terminal state is the only one
that runs the rest of its end. Reasons are stored in English (``gettext_noop``)
and translated where they are shown (reasons.py).
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from experiments import gateway
from portal.accounts.actions import revoke_token

from . import queue
from .backends import Backend, BackendError, BackendStatus, get_backend
from .lifecycle import move_job
from .models import ACTIVE, TERMINAL, Job, JobStatus, TaskLease

log = logging.getLogger(__name__)

RUN_STATUS = {
    JobStatus.SUCCEEDED: "FINISHED",
    JobStatus.FAILED: "FAILED",
    JobStatus.CANCELLED: "KILLED",
}

LOG_ARTIFACT = "taller/job.log"


def _describe_failure(status: BackendStatus) -> str:
    if status.reason:
        return status.reason
    if status.exit_code is not None:
        return gettext_noop("exited with code %(code)s") % {"code": status.exit_code}
    return gettext_noop("failed on the backend")


def _refine_failure(job: Job, status: BackendStatus) -> None:
    """A failure seen before its details: a cluster reports the Job's failure and its container's
    exit on separate streams, so the exit code (OOMKilled, 137) may come just after the job has
    failed. Fill it in then, once; the lifecycle does not move."""
    if job.status == JobStatus.FAILED and status.phase == "failed" and status.exit_code is not None:
        Job.objects.filter(pk=job.pk, status=JobStatus.FAILED, exit_code__isnull=True).update(
            exit_code=status.exit_code, status_reason=_describe_failure(status)
        )


def apply_status(status: BackendStatus) -> bool:
    """Bring the job in line with what its backend says; returns whether its state moved.

    Safe to call with the same status again (the watcher and reconcile both do): moves are
    conditional, and a terminal job is never moved again.
    """
    job = (
        Job.objects.filter(pk=status.job_id)
        .only(
            "pk",
            "status",
            "status_reason",
            "exit_code",
            "image_digest",
            "mlflow_run_id",
            "started_at",
            "cancel_reason",
            "lingering",
        )
        .first()
    )
    if job is None:
        return False
    if job.status in TERMINAL:
        _refine_failure(job, status)
        if job.lingering and _gone(status):
            release_job(job.pk)
        return False
    digest = status.image_digest
    if digest and digest != job.image_digest:
        Job.objects.filter(pk=job.pk).update(image_digest=digest)
        if job.mlflow_run_id:
            try:
                gateway.set_run_tags(job.mlflow_run_id, {"taller.image_digest": digest})
            except gateway.GatewayError:
                log.warning("could not tag the run of job %s with its image digest", job.pk)
    fields: dict = {}
    if status.started_at and not job.started_at:
        fields["started_at"] = status.started_at
    phase = status.phase
    moved = False
    if phase == "pending":
        reason = status.reason or gettext_noop("accepted by the backend, waiting to start")
        if job.status == JobStatus.DISPATCHING:
            moved = move_job(job.pk, JobStatus.PENDING, reason, only_from={JobStatus.DISPATCHING})
        if not moved and status.reason:
            # Still pending, for a new reason (image pull, scheduling, the cluster's quota): show it,
            # also when the dispatch task moved the job to pending a moment before we could.
            Job.objects.filter(pk=job.pk, status=JobStatus.PENDING).exclude(
                status_reason=status.reason
            ).update(status_reason=status.reason)
    elif phase == "running":
        if job.status in (JobStatus.DISPATCHING, JobStatus.PENDING):
            moved = move_job(job.pk, JobStatus.RUNNING, status.reason or gettext_noop("started"), **fields)
        if moved:
            _tag_start(job.pk)
    elif phase == "succeeded":
        reason = status.reason or gettext_noop("exited with code 0")
        if status.finished_at:
            fields["finished_at"] = status.finished_at
        moved = end_job(job.pk, JobStatus.SUCCEEDED, reason, exit_code=status.exit_code or 0, **fields)
    elif phase == "failed":
        if status.finished_at:
            fields["finished_at"] = status.finished_at
        moved = end_job(
            job.pk, JobStatus.FAILED, _describe_failure(status), exit_code=status.exit_code, **fields
        )
    elif phase == "missing":
        if job.cancel_reason:
            # The deletion of a cancel the portal asked for, seen before the cancel was recorded.
            moved = end_job(job.pk, JobStatus.CANCELLED, job.cancel_reason, only_from=set(ACTIVE))
        elif job.status in (JobStatus.PENDING, JobStatus.RUNNING):
            moved = end_job(
                job.pk,
                JobStatus.FAILED,
                status.reason
                or gettext_noop("the backend no longer knows this job (deleted outside the portal?)"),
                only_from={JobStatus.PENDING, JobStatus.RUNNING},
            )
    else:
        log.warning("job %s: unknown backend phase %r", job.pk, phase)
    if moved and _gone(status):
        release_job(job.pk)
    return moved


def _gone(status: BackendStatus) -> bool:
    """Does the status say that nothing of the job is left on the backend (its Job deleted and
    its last Pod gone)?"""
    return status.phase == "missing" and status.extra.get("pods") == 0


def bounded_log(lines: list[str]) -> str:
    lines = lines[-settings.TALLER_FINAL_LOG_MAX_LINES :]
    text = "\n".join(lines)
    limit = settings.TALLER_FINAL_LOG_MAX_CHARS
    if len(text) > limit:
        text = text[-limit:]
        text = text[text.find("\n") + 1 :] if "\n" in text else text
    return text


def end_job(
    job_id: int, to: str, reason: str, *, log_lines: list[str] | None = None, only_from=None, **fields
) -> bool:
    """Move the job to the terminal state ``to``, with what an ended job shows (its final log, its
    token revoked) in the same commit: whoever reads the job ended reads them too. Then finish its
    MLflow run and admit the next queued jobs. Returns whether it moved: only the one that moved it
    does the rest. The final log is ``log_lines`` or, if none was kept (a cancel keeps it before the
    backend stops the job), read from the backend first."""
    if log_lines is None:
        log_lines = _backend_log(job_id)
    with transaction.atomic():
        if not move_job(job_id, to, reason, only_from=only_from, **fields):
            return False
        job = Job.objects.select_related("mlflow_token").only("pk", "mlflow_token").get(pk=job_id)
        if log_lines is not None:
            Job.objects.filter(pk=job.pk).update(final_log=bounded_log(log_lines))
        if job.mlflow_token is not None:
            revoke_token(job.mlflow_token)
    if sync_run(job_id) == "retry":
        # MLflow being down loses nothing: a task finishes the run later.
        transaction.on_commit(lambda: queue.send_sync_run(job_id, countdown=30))
    transaction.on_commit(lambda: queue.admit_and_dispatch())
    if settings.TALLER_PROMETHEUS_URL:
        transaction.on_commit(lambda: queue.send_gpu_check(job_id))
    return True


def _backend_log(job_id: int) -> list[str] | None:
    """The log of a job as its backend has it, unless a cancel kept it already (not read again)."""
    job = (
        Job.objects.filter(pk=job_id)
        .only("pk", "backend", "final_log", "project__slug")
        .select_related("project")
    )
    job = job.first()
    if job is None or not job.backend or job.final_log:
        return None
    try:
        return get_backend(job.backend).logs(job.pk, job.project.slug)
    except BackendError as error:
        log.warning("job %s: final log not available: %s", job.pk, error)
        return None


def queue_tags(job: Job) -> dict[str, str]:
    """When the backend started the job's process (``taller.started_at``): its run started when the
    job was handed to the backend (runs.py), so the scheduling and the image pull are inside it."""
    if job.started_at is None:
        return {}
    return {"taller.started_at": job.started_at.isoformat()}


def _tag_start(job_id: int) -> None:
    job = Job.objects.only("pk", "mlflow_run_id", "created_at", "started_at").get(pk=job_id)
    if job.mlflow_run_id and (tags := queue_tags(job)):
        try:
            gateway.set_run_tags(job.mlflow_run_id, tags)
        except gateway.GatewayError:  # sync_run sets them again at the end
            log.warning("could not tag the run of job %s with its start", job.pk)


def sync_run(job_id: int) -> str:
    """Finish the job's MLflow run with the job's outcome and attach its final log.

    Returns "done", "retry" (MLflow unavailable) or "refused" (MLflow said no: nothing to retry)."""
    job = Job.objects.only(
        "pk", "status", "mlflow_run_id", "final_log", "image_digest", "exit_code", "created_at", "started_at"
    ).get(pk=job_id)
    if not job.mlflow_run_id or job.status not in TERMINAL:
        return "done"
    try:
        tags = {"taller.status": job.status, **queue_tags(job)}
        if job.image_digest:
            tags["taller.image_digest"] = job.image_digest
        if job.exit_code is not None:
            tags["taller.exit_code"] = str(job.exit_code)
        gateway.set_run_tags(job.mlflow_run_id, tags)
        if job.final_log:
            gateway.log_text_artifact(job.mlflow_run_id, job.final_log + "\n", LOG_ARTIFACT)
        gateway.finish_run(job.mlflow_run_id, RUN_STATUS[job.status])
    except gateway.GatewayError as error:
        if not error.retryable:
            log.warning("job %s: MLflow refused to finish run %s: %s", job.pk, job.mlflow_run_id, error)
            return "refused"
        log.warning("job %s: MLflow unavailable, finishing its run later: %s", job.pk, error)
        return "retry"
    return "done"


def fail_job(job_id: int, reason: str) -> bool:
    """End a job that cannot run (dispatch refused or out of retries) as failed, with its reason."""
    return end_job(job_id, JobStatus.FAILED, reason)


def end_cancelled(job_id: int, reason: str, *, log_lines: list[str] | None) -> bool:
    return end_job(job_id, JobStatus.CANCELLED, reason, log_lines=log_lines)


def release_job(job_id: int) -> bool:
    """What an ended job ran is gone from its backend: admission no longer counts its resources,
    and the queued jobs that now fit are admitted."""
    if not Job.objects.filter(pk=job_id, lingering=True).update(lingering=False):
        return False
    transaction.on_commit(lambda: queue.admit_and_dispatch())
    if settings.TALLER_PROMETHEUS_URL:
        transaction.on_commit(lambda: queue.send_gpu_check(job_id))
    return True


def take_lease(name: str, seconds: int):
    """Take the named lease for ``seconds`` unless another holder has it; returns its expiry (to
    give it back with) or None. One conditional UPDATE: two workers cannot both take it."""
    TaskLease.objects.bulk_create([TaskLease(name=name)], ignore_conflicts=True)
    now = timezone.now()
    until = now + timedelta(seconds=seconds)
    free = Q(until__isnull=True) | Q(until__lte=now)
    return until if TaskLease.objects.filter(free, name=name).update(until=until) else None


def give_back_lease(name: str, until) -> None:
    TaskLease.objects.filter(name=name, until=until).update(until=None)


def reconcile() -> dict[str, int]:
    """Repair what lost events or crashed workers left behind: compare every job the backends
    should have with what they have (one survey per backend: a few paged lists on Kubernetes,
    whatever the number of jobs), finish cancels a dead worker left half done, and release ended
    jobs whose processes are gone. (An admitted job whose dispatch was lost is the drain's:
    dispatch.redispatch_lost.)

    At most one reconcile runs at a time: a run that finds another under way is skipped (it would
    only repeat it), and says so."""
    until = take_lease("reconcile", settings.TALLER_RECONCILE_LEASE_SECONDS)
    if until is None:
        log.info("reconcile: skipped, another reconcile is still running")
        return {"skipped": 1}
    try:
        return _reconcile()
    finally:
        give_back_lease("reconcile", until)


def _reconcile() -> dict[str, int]:
    counts = {"skipped": 0, "checked": 0, "moved": 0, "cancelled": 0, "released": 0}
    # Read before the backends are asked: a job pending here was created there before this read.
    fields = ("pk", "backend", "project__slug", "status", "status_reason", "image_digest", "cancel_reason")
    jobs = list(
        Job.objects.filter(Q(status__in=[JobStatus.PENDING, JobStatus.RUNNING]) | Q(lingering=True))
        .values_list(*fields, "lingering", "finished_at", named=True)
        .order_by()
    )
    by_backend: dict[str, list] = {}
    for job in jobs:
        by_backend.setdefault(job.backend, []).append(job)
    released = []
    for name, group in by_backend.items():
        backend = get_backend(name or None)
        try:
            statuses = backend.survey((job.pk, job.project__slug) for job in group)
        except BackendError as error:
            log.warning("reconcile: the %s backend did not answer: %s", backend.name, error)
            continue
        for job in group:
            status = statuses[job.pk]
            if job.status in (JobStatus.PENDING, JobStatus.RUNNING):
                counts["checked"] += 1
                if job.cancel_reason and status.phase != "missing":
                    counts["cancelled"] += _finish_cancel(backend, job)
                elif _differs(job, status):
                    counts["moved"] += apply_status(status)
            elif status.extra.get("pods") == 0:
                released.append(job.pk)
    # A backend that never said the Pods went (or said so to no watcher): released after a while.
    timeout = timezone.now() - timedelta(seconds=settings.TALLER_LINGER_TIMEOUT_SECONDS)
    released += [job.pk for job in jobs if job.lingering and job.finished_at and job.finished_at < timeout]
    if released and Job.objects.filter(pk__in=released, lingering=True).update(lingering=False):
        counts["released"] = len(set(released))
        queue.admit_and_dispatch()
    return counts


def _differs(job, status: BackendStatus) -> bool:
    """Would ``apply_status(status)`` change this job (a row of reconcile's read)?"""
    if status.image_digest and status.image_digest != job.image_digest:
        return True
    if status.phase == "pending":
        return job.status != JobStatus.PENDING or bool(status.reason and status.reason != job.status_reason)
    if status.phase == "running":
        return job.status != JobStatus.RUNNING
    return True


def _finish_cancel(backend: Backend, job) -> int:
    """A cancel recorded on a job still on its backend: the worker that asked died before the
    backend was told (or is telling it right now: both deleting is harmless)."""
    try:
        lingers = backend.cancel(job.pk, job.project__slug)
    except BackendError as error:
        log.warning("reconcile: could not finish the cancel of job %s: %s", job.pk, error)
        return 0
    if not lingers:
        Job.objects.filter(pk=job.pk, lingering=True).update(lingering=False)
    return int(end_cancelled(job.pk, job.cancel_reason, log_lines=None))
