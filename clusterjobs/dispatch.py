"""What a worker does to put an admitted (``dispatching``) job on its backend: claim it, prepare its
project there once, create it with its token and environment, or adopt what an earlier attempt
created; and the periodic drain that dispatches again what a lost message or a dead worker left.

The dispatch task (tasks.dispatch_job) runs ``dispatch``; a job that cannot run ends through
``sync.fail_job``; a found job's status is applied by ``sync.apply_status``.
"""

import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from portal.accounts.actions import create_job_tokens, revoke_token
from portal.rows import update_each

from . import project_ready, queue, runs, sync
from .backends import Backend, BackendError, BackendStatus, JobSpec, ProjectLimits, get_backend
from .lifecycle import move_job, move_jobs
from .models import Job, JobStatus
from .request import JobRequest
from .sources.jobs import source_environment

log = logging.getLogger(__name__)

# A job's MLflow client gives up on an unreachable or redirecting portal within a minute instead of
# retrying for about four (MLflow's 7 retries with a backoff factor of 2): 4 retries 0, 4, 8 and 16 s
# apart ride out a restart of the web processes. The per-call timeout stays MLflow's own, for uploads.
# MLflow's usage telemetry is off: a campus cluster may not reach the internet, and its background
# thread unsets an environment variable while the job's own calls read it (seen failing a job with
# "API request ... failed with exception '_MLFLOW_TELEMETRY_SESSION_ID'").
JOB_MLFLOW_CLIENT_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "4",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "2",
    "MLFLOW_DISABLE_TELEMETRY": "true",
}


def dispatch(job_id: int, attempt: str = "") -> str:
    """Create an admitted (``dispatching``) job on its backend. Idempotent, so a retried or
    duplicated task, or one redelivered after a worker died, never starts a job twice:

    - a job no longer ``dispatching`` is left alone, and so is one that another attempt holds: a
      claim naming the attempt (``attempt``, the Celery task id, which its retries keep) is written
      in the transaction that locks and reads the job, renewed while the attempt works, and lapses
      TALLER_DISPATCH_CLAIM_SECONDS after the attempt's last sign of life;
    - every attempt commits the job's token before it submits, so a job without a token was
      never submitted: it gets its token (in the transaction that locks and reads it) and is
      submitted without asking the backend first;
    - a job with a token may have been created by an earlier attempt that died before recording
      it: if the backend has it, with this job's uid, it is only recorded, keeping the token that
      attempt handed it; otherwise a fresh token (the previous one is revoked, its key is lost);
    - the submit itself counts "already there with this job's uid" as success.

    Returns what happened: "skipped", "found", "submitted" or "cancelled". Raises BackendError (the
    claim stays with the attempt: see dispatch_failed).
    """
    attempt = attempt or uuid.uuid4().hex
    key = None
    with transaction.atomic():
        job = (
            Job.objects.select_for_update(of=("self",))
            .select_related("project", "project__quota", "submitter")
            .filter(pk=job_id)
            .first()
        )
        if job is None or job.status != JobStatus.DISPATCHING:
            return "skipped"
        now = timezone.now()
        held_by_another = job.dispatch_claim and job.dispatch_claim != attempt
        if held_by_another and job.dispatch_claimed_until and job.dispatch_claimed_until > now:
            return "skipped"  # another attempt is dispatching it, or waits for its retry
        claim = {"dispatch_claim": attempt, "dispatch_claimed_until": _claim_until(now)}
        backend = get_backend(job.backend or None)
        if not job.mlflow_token_id:
            key = _hand_token(job, backend, claim)
        else:
            Job.objects.filter(pk=job.pk).update(**claim)
    with _claim_kept([job.pk], attempt):
        return _create_on_backend(job, backend, key, claim)


# The wait before a failed dispatch is tried again, doubled at each failure (tasks.backoff).
FIRST_RETRY_SECONDS = 5


def dispatch_many(job_ids: list[int], attempt: str = "") -> dict[int, str]:
    """``dispatch`` for a batch of admitted jobs (a drain that admitted many at once), with the
    database work done once for the batch rather than once per job: one transaction locks the
    jobs (in id order, so two batches never wait on each other in a circle), claims them for the
    attempt and commits their tokens; each is then created on its backend; one transaction moves
    those created to ``pending``. The guarantees are dispatch's: a job no longer ``dispatching``,
    or held by another live attempt, is left alone, and tokens are committed before any submit.

    A job that an earlier attempt gave a token (it may be on its backend already) is handed to a
    dispatch task of its own, which looks before it creates. A job whose submit fails is released
    from the batch's claim and handed to a dispatch task of its own, which retries it with backoff
    (or fails at once, when the backend refused it for good).

    Returns each job's outcome: dispatch's, or "sent" for a job handed to a task of its own."""
    attempt = attempt or uuid.uuid4().hex
    outcomes = dict.fromkeys(job_ids, "skipped")
    with transaction.atomic():
        jobs = list(
            Job.objects.select_for_update(of=("self",))
            .select_related("project", "project__quota", "submitter")
            .filter(pk__in=job_ids, status=JobStatus.DISPATCHING)
            .order_by("pk")
        )
        now = timezone.now()
        claim = {"dispatch_claim": attempt, "dispatch_claimed_until": _claim_until(now)}
        fresh, ours = [], []
        for job in jobs:
            held_by_another = job.dispatch_claim and job.dispatch_claim != attempt
            if held_by_another and job.dispatch_claimed_until and job.dispatch_claimed_until > now:
                continue  # another attempt is dispatching it, or waits for its retry
            if job.mlflow_token_id:
                outcomes[job.pk] = "sent"
                if job.dispatch_claim == attempt:  # this batch's, before a retry of its task
                    ours.append(job.pk)
            else:
                fresh.append((job, get_backend(job.backend or None)))
        Job.objects.filter(pk__in=ours).update(dispatch_claim="", dispatch_claimed_until=None)
        keys = _hand_tokens(fresh, claim)
    for job_id in [pk for pk, outcome in outcomes.items() if outcome == "sent"]:
        queue.send_dispatch(job_id)
    created: dict[int, tuple[str, dict]] = {}
    with _claim_kept([job.pk for job, _backend in fresh], attempt):
        for (job, backend), key in zip(fresh, keys, strict=True):
            started = timezone.now()
            try:
                limits = project_ready.ensure_project(backend, job.project)
                if not runs.start_run(job, started, retried=False):
                    continue  # cancelled meanwhile
                env, secret_names = job_environment(job, key)
                backend.submit(job_spec(job, env, limits, secret_names))
            except BackendError as error:
                outcomes[job.pk] = _hand_back(job.pk, attempt, error)
                continue
            created[job.pk] = (_created_as(job), {"dispatched_at": started})
        moved = move_jobs(created, JobStatus.PENDING, JobStatus.DISPATCHING)
    for job, backend in fresh:
        if job.pk in moved:
            outcomes[job.pk] = "submitted"
        elif job.pk in created:
            outcomes[job.pk] = _cancelled_meanwhile(job, backend)
    return outcomes


def _hand_back(job_id: int, attempt: str, error: BackendError) -> str:
    """A batch's job whose submit failed: refused for good, it fails; otherwise the batch lets it
    go (its claim, with why) to a dispatch task of its own, which retries it with backoff."""
    if error.permanent:
        sync.fail_job(job_id, BACKEND_REFUSED % {"error": error})
        return "failed"
    Job.objects.filter(pk=job_id, status=JobStatus.DISPATCHING, dispatch_claim=attempt).update(
        status_reason=DISPATCH_RETRYING % {"error": error}, dispatch_claim="", dispatch_claimed_until=None
    )
    queue.send_dispatch(job_id, countdown=FIRST_RETRY_SECONDS)
    return "sent"


def _created_as(job: Job) -> str:
    return gettext_noop("created on the backend as %(name)s") % {"name": job.backend_name}


def _create_on_backend(job: Job, backend: Backend, key: str | None, claim: dict) -> str:
    retried = key is None
    if key is None:
        found = backend.status(job.pk, job.project.slug)
        if found.phase != "missing":
            return _adopt(job, found)
        with transaction.atomic():
            current = (
                Job.objects.select_for_update()
                .filter(pk=job.pk, status=JobStatus.DISPATCHING, dispatch_claim=claim["dispatch_claim"])
                .only("pk", "mlflow_token")
                .first()
            )
            if current is None:
                return "skipped"  # cancelled meanwhile, or our claim lapsed and another attempt has it
            if current.mlflow_token_id:
                revoke_token(current.mlflow_token)
            key = _hand_token(job, backend, claim)
    limits = project_ready.ensure_project(backend, job.project)
    started = timezone.now()
    if not runs.start_run(job, started, retried=retried):
        return "skipped"  # cancelled meanwhile
    env, secret_names = job_environment(job, key)
    backend.submit(job_spec(job, env, limits, secret_names))
    if move_job(
        job.pk,
        JobStatus.PENDING,
        _created_as(job),
        only_from={JobStatus.DISPATCHING},
        dispatched_at=started,  # the start of its MLflow run
    ):
        return "submitted"
    return _cancelled_meanwhile(job, backend)


def _cancelled_meanwhile(job: Job, backend: Backend) -> str:
    """A job created on its backend that did not move to ``pending``: cancelled while it was
    being created (or already ended). It must not be left running."""
    if Job.objects.filter(pk=job.pk, status=JobStatus.CANCELLED).exists():
        if backend.cancel(job.pk, job.project.slug):
            Job.objects.filter(pk=job.pk).update(lingering=True)  # until its Pods are gone
        return "cancelled"
    return "submitted"


DISPATCH_RETRYING = gettext_noop("dispatch failed, retrying: %(error)s")
BACKEND_REFUSED = gettext_noop("the backend refused the job: %(error)s")


def dispatch_failed(job_id: int, attempt: str, error: Exception, retry_in: float) -> None:
    """Say on the job why its dispatch attempt failed, and keep the attempt's claim until its retry
    is due (a duplicate task leaves the job to it); if the retry is lost with a worker, the claim
    lapses TALLER_DISPATCH_CLAIM_SECONDS later and the drain dispatches the job again. Best
    effort: the database may be what failed."""
    reason = DISPATCH_RETRYING % {"error": error}
    try:
        Job.objects.filter(pk=job_id, status=JobStatus.DISPATCHING).update(
            status_reason=reason,
            dispatch_claim=attempt,
            dispatch_claimed_until=_claim_until(extra_seconds=retry_in),
        )
    except DatabaseError as db_error:
        log.warning("job %s: could not record its failed dispatch: %s", job_id, db_error)


def _hand_token(job: Job, backend: Backend, claim: dict) -> str:
    """A new job-scoped token for the job, recorded on it with its backend and the dispatch
    attempt's claim; returns the key."""
    return _hand_tokens([(job, backend)], claim)[0]


def _hand_tokens(jobs: list[tuple[Job, Backend]], claim: dict) -> list[str]:
    """``_hand_token`` for each (job, its backend): two statements however many they are."""
    if not jobs:
        return []
    made = create_job_tokens([(job.submitter, f"job {job.pk}", job.project) for job, _backend in jobs])
    for (job, backend), (token, _key) in zip(jobs, made, strict=True):
        job.mlflow_token, job.backend = token, backend.name
        for name, value in claim.items():
            setattr(job, name, value)
    update_each(
        Job,
        {job.pk: {"mlflow_token": job.mlflow_token_id, "backend": job.backend} for job, _ in jobs},
        same=claim,
    )
    return [key for _token, key in made]


def _adopt(job: Job, found: BackendStatus) -> str:
    """Record a job an earlier attempt created on the backend, if it carries this job's uid."""
    theirs = found.extra.get("uid")
    if theirs != job_uid(job):  # another job's, or none recorded: not ours to adopt
        raise BackendError(
            gettext_noop("%(name)s already exists on the backend for another job (uid %(uid)s)")
            % {"name": job.backend_name, "uid": theirs},
            permanent=True,
        )
    move_job(
        job.pk,
        JobStatus.PENDING,
        gettext_noop("found on the backend as %(name)s") % {"name": job.backend_name},
        only_from={JobStatus.DISPATCHING},
    )
    sync.apply_status(found)
    return "found"


def _claim_until(now: datetime | None = None, *, extra_seconds: float = 0) -> datetime:
    """When a claim taken (or renewed) now lapses, unless renewed again."""
    return (now or timezone.now()) + timedelta(seconds=settings.TALLER_DISPATCH_CLAIM_SECONDS + extra_seconds)


def _renew_claim(job_ids: list[int], attempt: str) -> None:
    Job.objects.filter(pk__in=job_ids, status=JobStatus.DISPATCHING, dispatch_claim=attempt).update(
        dispatch_claimed_until=_claim_until()
    )


@contextmanager
def _claim_kept(job_ids: list[int], attempt: str) -> Iterator[None]:
    """Renew the attempt's claim on the jobs every third of TALLER_DISPATCH_CLAIM_SECONDS while the
    block runs (a backend call may take longer than the claim lasts); if the process dies, the
    renewals stop with it and the claim lapses."""
    stop = threading.Event()

    def renew() -> None:
        try:
            while not stop.wait(settings.TALLER_DISPATCH_CLAIM_SECONDS / 3):
                try:
                    _renew_claim(job_ids, attempt)
                except DatabaseError as error:  # the next renewal may get through
                    log.warning("could not renew the dispatch claim on jobs %s: %s", job_ids, error)
        finally:
            connection.close()  # this thread's own connection

    first = job_ids[0] if job_ids else "none"
    renewer = threading.Thread(target=renew, name=f"dispatch-claim-{first}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()


def job_environment(job: Job, token_key: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """Every variable a job's process gets from the portal, in one place: the job's own variables,
    then its MLflow run and its token (which reaches only the project's tracking through the
    proxy). Returns the environment and the names in it whose values are secret."""
    env = {
        **job.env,
        **JOB_MLFLOW_CLIENT_ENV,
        "MLFLOW_TRACKING_URI": settings.TALLER_JOB_TRACKING_URI,
        "MLFLOW_TRACKING_TOKEN": token_key,
        "MLFLOW_RUN_ID": job.mlflow_run_id,
        "MLFLOW_EXPERIMENT_ID": job.mlflow_experiment_id,
        "TALLER_JOB_ID": str(job.pk),
        "TALLER_PROJECT": job.project.slug,
    }
    source_env, source_secret = source_environment(job)  # the git credential, for the clone alone
    env |= source_env
    secret = {
        "MLFLOW_TRACKING_TOKEN",
        *source_secret,
        *(name for name in job.secret_env_names if name in env),
    }
    return env, tuple(sorted(secret))


def job_spec(
    job: Job,
    env: dict[str, str],
    limits: ProjectLimits | None = None,
    secret_names: tuple[str, ...] = (),
) -> JobSpec:
    request = JobRequest.from_model(job)
    return JobSpec(
        job_id=job.pk,
        project=job.project.slug,
        uid=job_uid(job),
        request=request,
        env=env,
        time_limit_seconds=request.time_limit_minutes * 60,
        backoff_limit=job.backoff_limit,
        limits=limits,
        secret_names=secret_names,
    )


def job_uid(job: Job) -> str:
    """Unique per job even across portal databases that reuse ids: recorded on the backend object
    so that a retried dispatch recognises its own job."""
    return f"{job.pk}-{job.created_at.strftime('%Y%m%dT%H%M%S%f')}"


def drain_queues() -> list[int]:
    """Admit and dispatch queued jobs of every project (repairs an admission lost after commit),
    and dispatch again the admitted jobs whose dispatch was lost; returns the jobs sent."""
    return queue.admit_and_dispatch() + redispatch_lost()


def redispatch_lost() -> list[int]:
    """Dispatch again the ``dispatching`` jobs that no live attempt holds: a claim that lapsed (its
    worker died, or its retry was lost with one), or no claim TALLER_DISPATCH_CLAIM_SECONDS after
    admission (the message was lost: the filesystem broker of the embedded default does not
    deliver again what a dead worker had taken). A duplicate is harmless: dispatch is idempotent."""
    now = timezone.now()
    admitted_before = now - timedelta(seconds=settings.TALLER_DISPATCH_CLAIM_SECONDS)
    lost = list(
        Job.objects.filter(status=JobStatus.DISPATCHING)
        .annotate(admitted_at=Max("transitions__at"))
        .filter(
            Q(dispatch_claimed_until__lt=now)
            | Q(dispatch_claimed_until__isnull=True, admitted_at__lt=admitted_before)
        )
        .values_list("pk", flat=True)
    )
    for job_id in lost:
        log.warning("job %s: its dispatch was lost, dispatching it again", job_id)
        queue.send_dispatch(job_id)
    return lost
