"""Writes on jobs: submit, cancel, re-run, and what the backend tells us (apply_status).

Pages, the API, Celery tasks and the watcher all call these functions. State moves go through
``lifecycle.move_job`` (a conditional update), so whoever moves a job to a terminal state is the
only one that runs the end handling: MLflow run finished, final log kept, token revoked, the
project's next queued jobs admitted.
"""

import dataclasses
import hashlib
import logging
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, connection, transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from experiments import gateway
from portal.accounts.actions import create_token, revoke_token
from portal.celery import app as celery_app
from portal.projects.access import Need, level_of
from portal.projects.models import Project

from . import admission
from .backends import Backend, BackendError, BackendStatus, JobSpec, ProjectLimits, get_backend
from .lifecycle import move_job
from .models import ACTIVE, TERMINAL, Job, JobStatus, JobTransition, PreparedProject, TaskLease

log = logging.getLogger(__name__)

# Matched in full (fullmatch): with match and "$", "FOO\n" would pass, since "$" matches before a
# final newline.
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
GPU_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
RESERVED_ENV_PREFIXES = ("MLFLOW_", "TALLER_")
# A job's MLflow client gives up on an unreachable or redirecting portal within a minute instead of
# retrying for about four (MLflow's 7 retries with a backoff factor of 2): 4 retries 0, 4, 8 and 16 s
# apart ride out a restart of the web processes. The per-call timeout stays MLflow's own, for uploads.
JOB_MLFLOW_CLIENT_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "4", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "2"}
MAX_COMMAND_ARGS = 200
MAX_ARG_LENGTH = 4096
MAX_ENV_VARS = 100
MAX_ENV_VALUE_LENGTH = 8192
RUN_STATUS = {
    JobStatus.SUCCEEDED: "FINISHED",
    JobStatus.FAILED: "FAILED",
    JobStatus.CANCELLED: "KILLED",
}
LOG_ARTIFACT = "taller/job.log"


class ServiceUnavailable(Exception):
    """A service the action needs (MLflow, the backend) did not answer; nothing was changed."""


@dataclass(frozen=True)
class JobLimits:
    cpu: Decimal
    memory_mib: int
    gpus: int
    time_limit_minutes: int


def job_limits() -> JobLimits:
    """The per-job maxima of this site (a project's quota may be lower)."""
    return JobLimits(
        cpu=Decimal(settings.TALLER_MAX_JOB_CPU),
        memory_mib=settings.TALLER_MAX_JOB_MEMORY_MIB,
        gpus=settings.TALLER_MAX_JOB_GPUS,
        time_limit_minutes=settings.TALLER_MAX_JOB_TIME_LIMIT_MINUTES,
    )


def env_name_error(name: object) -> str | None:
    """Why ``name`` cannot be a job's environment variable, or None."""
    if not isinstance(name, str) or not ENV_NAME.fullmatch(name):
        return _(
            "“%(name)s” is not a valid variable name: use letters, digits and _, not starting with a digit."
        ) % {"name": name}
    if name.upper().startswith(RESERVED_ENV_PREFIXES):
        return _("“%(name)s” is reserved: the portal sets MLFLOW_* and TALLER_* variables itself.") % {
            "name": name
        }
    return None


def image_error(image: str) -> str | None:
    if not image or any(ch.isspace() for ch in image):
        return _("Give an image reference without spaces, e.g. python:3.11-slim.")
    if len(image) > 500:
        return _("An image reference has at most 500 characters.")
    prefixes = settings.TALLER_ALLOWED_IMAGE_PREFIXES
    if prefixes and not any(image.startswith(prefix) for prefix in prefixes):
        return _("Images must come from an allowed registry: %(prefixes)s.") % {
            "prefixes": ", ".join(prefixes)
        }
    return None


def _whole(value: object, field: str, errors: dict, minimum: int, maximum: int, unit: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value))
        except (TypeError, ValueError):
            errors[field] = _("Enter a whole number.")
            return 0
    if value < minimum:
        errors[field] = _("Enter at least %(n)s.") % {"n": minimum}
    elif value > maximum:
        errors[field] = _("At most %(n)s%(unit)s per job.") % {"n": maximum, "unit": unit}
    return value


def check_job(
    user,
    project: Project,
    *,
    name: str,
    image: str,
    command: list,
    env: dict | None = None,
    secret_env: list | tuple = (),
    cpu: object = Decimal("1"),
    memory_mib: object = 2048,
    gpus: object = 0,
    gpu_type: str = "",
    time_limit_minutes: object = 60,
    experiment: str = "default",
) -> dict:
    """Check a job spec for ``project`` and return it cleaned; raise ValidationError per field.

    Also the form's validation as you type: it changes nothing.
    """
    level = level_of(user, project)
    if level < Need.VIEW:
        raise ValidationError({"project": _("No such project.")})
    if level < Need.CHANGE:
        raise PermissionDenied(_("Only members and owners of the project submit jobs."))
    errors: dict[str, str] = {}
    if not project.is_active():
        errors["project"] = _("The project is %(status)s: only an active project runs jobs.") % {
            "status": project.get_status_display()
        }

    name = (name or "").strip() if isinstance(name, str) else ""
    if not name:
        errors["name"] = _("Give the job a name.")
    elif len(name) > 100:
        errors["name"] = _("A name has at most 100 characters.")

    image = image.strip() if isinstance(image, str) else ""
    if message := image_error(image):
        errors["image"] = message

    if not isinstance(command, list | tuple) or not command:
        errors["command"] = _("Give the command as a non-empty list of arguments.")
    elif not all(isinstance(arg, str) for arg in command):
        errors["command"] = _("Every argument of the command must be a string.")
    elif not command[0].strip():
        errors["command"] = _("The first argument names the program to run; it cannot be empty.")
    elif len(command) > MAX_COMMAND_ARGS or any(len(arg) > MAX_ARG_LENGTH for arg in command):
        errors["command"] = _("The command is too long: at most %(n)s arguments of %(m)s characters.") % {
            "n": MAX_COMMAND_ARGS,
            "m": MAX_ARG_LENGTH,
        }

    env = {} if env is None else env
    if not isinstance(env, dict):
        errors["env"] = _("Give the environment as an object of names and values.")
        env = {}
    else:
        problems = [env_name_error(key) for key in env]
        problems += [
            _("The value of %(name)s must be a string.") % {"name": key}
            for key, value in env.items()
            if not isinstance(value, str)
        ]
        problems += [
            _("The value of %(name)s is too long.") % {"name": key}
            for key, value in env.items()
            if isinstance(value, str) and len(value) > MAX_ENV_VALUE_LENGTH
        ]
        if len(env) > MAX_ENV_VARS:
            problems.append(_("At most %(n)s variables.") % {"n": MAX_ENV_VARS})
        if problems := [problem for problem in problems if problem]:
            errors["env"] = " ".join(problems)
    if not isinstance(secret_env, list | tuple) or not all(isinstance(n, str) for n in secret_env):
        errors["secret_env"] = _("Give the secret variables as a list of names.")
        secret_env = []
    elif unknown := [n for n in secret_env if n not in env]:
        errors["secret_env"] = _("Not in the environment: %(names)s.") % {"names": ", ".join(unknown)}

    limits = job_limits()
    try:
        cpu = Decimal(str(cpu))
        if not cpu.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        errors["cpu"] = _("Enter a number of CPU cores, e.g. 0.5 or 2.")
        cpu = Decimal(0)
    else:
        if cpu <= 0:
            errors["cpu"] = _("Ask for more than 0 CPU cores.")
        elif cpu > limits.cpu:
            errors["cpu"] = _("At most %(n)s CPU cores per job.") % {"n": limits.cpu}
        elif cpu != cpu.quantize(Decimal("0.001")):
            errors["cpu"] = _("Use at most three decimals (millicores).")
    memory_mib = _whole(memory_mib, "memory_mib", errors, 16, limits.memory_mib, " MiB")
    gpus = _whole(gpus, "gpus", errors, 0, limits.gpus)
    time_limit_minutes = _whole(
        time_limit_minutes, "time_limit_minutes", errors, 1, limits.time_limit_minutes
    )
    gpu_type = gpu_type.strip() if isinstance(gpu_type, str) else ""
    if gpu_type and not errors.get("gpus") and gpus == 0:
        errors["gpu_type"] = _("A GPU type needs at least one GPU.")
    elif len(gpu_type) > 100 or (gpu_type and not GPU_TYPE.fullmatch(gpu_type)):
        errors["gpu_type"] = _("Use the GPU product name, e.g. NVIDIA-A100-SXM4-40GB.")

    experiment = experiment.strip() if isinstance(experiment, str) else ""
    if not experiment:
        errors["experiment"] = _("Name the MLflow experiment, e.g. default.")
    elif len(experiment) > 100 or "/" in experiment:
        errors["experiment"] = _("An experiment name has at most 100 characters and no “/”.")

    # The project's quota, for the fields that passed the per-job checks (the others count as 0).
    asked = {"cpu": cpu, "memory_mib": memory_mib, "gpus": gpus, "time_limit_minutes": time_limit_minutes}
    try:
        admission.check_submission(
            project,
            **{field: 0 if field in errors else value for field, value in asked.items()},
            submitter=user,
            lock=False,
        )
    except ValidationError as error:
        for field, messages in error.message_dict.items():
            errors.setdefault(field, " ".join(messages))
    if errors:
        raise ValidationError(errors)
    return {
        "name": name,
        "image": image,
        "command": list(command),
        "env": dict(env),
        "secret_env_names": sorted(set(secret_env)),
        "cpu": cpu,
        "memory_mib": memory_mib,
        "gpus": gpus,
        "gpu_type": gpu_type,
        "time_limit_minutes": time_limit_minutes,
        "experiment_name": experiment,
    }


def submit_job(user, project: Project, *, rerun_of: Job | None = None, **spec) -> Job:
    """Create a queued job and its MLflow run; after commit, admit and dispatch what fits.

    Raises ValidationError (per field), PermissionDenied (a viewer), or ServiceUnavailable when
    MLflow cannot create the run: then nothing is created.
    """
    cleaned = check_job(user, project, **spec)
    with transaction.atomic():
        # Again under the quota's row lock, held until commit: two submissions cannot both spend
        # the last of the project's budget.
        admission.check_submission(
            project,
            cpu=cleaned["cpu"],
            memory_mib=cleaned["memory_mib"],
            gpus=cleaned["gpus"],
            time_limit_minutes=cleaned["time_limit_minutes"],
            submitter=user,
        )
        job = Job.objects.create(project=project, submitter=user, rerun_of=rerun_of, **cleaned)
        # Stored in English, as the API shows it; pages translate it (reasons.py).
        reason = (
            gettext_noop("re-run of job %(id)s by %(user)s") % {"id": rerun_of.pk, "user": user.username}
            if rerun_of
            else gettext_noop("submitted by %(user)s") % {"user": user.username}
        )
        JobTransition.objects.create(job=job, to_status=JobStatus.QUEUED, reason=reason, at=job.created_at)
        Job.objects.filter(pk=job.pk).update(status_reason=reason)
        # Last step of the transaction: if MLflow fails, the job row goes with the rollback.
        try:
            experiment_id, run_id = gateway.create_job_run(
                project.slug, cleaned["experiment_name"], job.pk, f"{job.name} (job {job.pk})", user.username
            )
        except gateway.GatewayError as error:
            if error.status in (400, 409):
                raise ValidationError({"experiment": str(error)}) from error
            raise ServiceUnavailable(
                _(
                    "MLflow is unavailable, so the job's run could not be created; nothing was submitted. Try again shortly. (%(error)s)"
                )
                % {"error": error}
            ) from error
        Job.objects.filter(pk=job.pk).update(mlflow_experiment_id=experiment_id, mlflow_run_id=run_id)
        # The job as submitted (queued): admission may move it as soon as the transaction commits.
        job.refresh_from_db()
        transaction.on_commit(lambda: _admit_submitted(job.pk, project.pk, reason))
    return job


def _admit_submitted(job_id: int, project_id: int, submitted_reason: str) -> None:
    """Admit what fits; a submitted job left queued says why it waits."""
    admit_and_dispatch(project_id)
    Job.objects.filter(pk=job_id, status=JobStatus.QUEUED, status_reason=submitted_reason).update(
        status_reason=admission.WAITING_FOR_QUOTA
    )


def admit_and_dispatch(project_id: int | None = None) -> list[int]:
    """Admit the queued jobs that fit (across projects, fairly: see admission.admit_all) and
    enqueue their dispatch. A lost enqueue is repaired by the periodic reconcile (the job stays
    `dispatching`)."""
    dispatch_job = task("dispatch_job")
    admitted = admission.admit()
    for job_id in admitted:
        try:
            dispatch_job.delay(job_id)
        except Exception:  # the broker is down: reconcile re-enqueues stale dispatching jobs
            log.exception("could not enqueue the dispatch of job %s", job_id)
    return admitted


def _check_change(user, job: Job) -> None:
    level = level_of(user, job.project)
    if level < Need.VIEW:
        from django.http import Http404

        raise Http404(_("No such job."))
    if level < Need.CHANGE:
        raise PermissionDenied(_("Only members and owners of the project change its jobs."))


def cancel_job(user, job: Job) -> bool:
    """Stop the job on its backend and end it as cancelled. Returns False if it had already ended.

    The cancel is recorded on the job (its reason, and the log so far) before the backend is
    told: should the watcher see the deletion before this function moves the job, it ends the job
    as this cancel, not as a job deleted behind the portal's back. Whoever moves it runs the end
    handling. A backend whose processes outlive the call (a cluster's terminating Pods) leaves the
    job ``lingering``: admission counts its resources until they are gone."""
    _check_change(user, job)
    job.refresh_from_db(fields=["status", "backend"])
    if job.is_terminal():
        raise ValidationError(
            {"status": _("The job has already ended (%(status)s).") % {"status": job.get_status_display()}}
        )
    reason = gettext_noop("cancelled by %(user)s") % {"user": user.username}
    if job.status == JobStatus.QUEUED:
        return _end_cancelled(job.pk, reason, log_lines=None)
    backend = get_backend(job.backend or None)
    try:
        lines = backend.logs(job.pk, job.project.slug)
    except BackendError:
        lines = None
    asked = Job.objects.filter(pk=job.pk, status__in=ACTIVE)
    if not asked.update(cancel_reason=reason, final_log=_bounded(lines or []), lingering=True):
        return False  # it ended (or was cancelled) meanwhile
    try:
        lingers = backend.cancel(job.pk, job.project.slug)
    except BackendError as error:
        if not asked.update(cancel_reason="", final_log="", lingering=False):
            # The call failed after the backend acted on it, and the watcher already saw the job go.
            return Job.objects.filter(pk=job.pk, status=JobStatus.CANCELLED).exists()
        raise ServiceUnavailable(
            _("The job could not be stopped on its backend; it keeps running. Try again. (%(error)s)")
            % {"error": error}
        ) from error
    if not lingers:
        Job.objects.filter(pk=job.pk, lingering=True).update(lingering=False)
    _end_cancelled(job.pk, reason, log_lines=lines)
    return True


def _end_cancelled(job_id: int, reason: str, *, log_lines: list[str] | None) -> bool:
    if not move_job(job_id, JobStatus.CANCELLED, reason):
        return False
    job_ended(job_id, log_lines=log_lines)
    return True


def release_job(job_id: int) -> bool:
    """What an ended job ran is gone from its backend: admission no longer counts its resources,
    and the queued jobs that now fit are admitted."""
    project_id = Job.objects.filter(pk=job_id).values_list("project_id", flat=True).first()
    if not Job.objects.filter(pk=job_id, lingering=True).update(lingering=False):
        return False
    transaction.on_commit(lambda: admit_and_dispatch(project_id))
    return True


def rerun_job(user, job: Job) -> Job:
    """Submit a new job with the same spec (secret values included: they never leave the server)."""
    _check_change(user, job)
    return submit_job(
        user,
        job.project,
        rerun_of=job,
        name=job.name,
        image=job.image,
        command=job.command,
        env=job.env,
        secret_env=job.secret_env_names,
        cpu=job.cpu,
        memory_mib=job.memory_mib,
        gpus=job.gpus,
        gpu_type=job.gpu_type,
        time_limit_minutes=job.time_limit_minutes,
        experiment=job.experiment_name,
    )


def _describe_failure(status: BackendStatus) -> str:
    if status.reason:
        return status.reason
    if status.exit_code is not None:
        return _("exited with code %(code)s") % {"code": status.exit_code}
    return _("failed on the backend")


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
        reason = status.reason or _("accepted by the backend, waiting to start")
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
            moved = move_job(job.pk, JobStatus.RUNNING, status.reason or _("started"), **fields)
    elif phase == "succeeded":
        reason = status.reason or _("exited with code 0")
        if status.finished_at:
            fields["finished_at"] = status.finished_at
        moved = move_job(job.pk, JobStatus.SUCCEEDED, reason, exit_code=status.exit_code or 0, **fields)
    elif phase == "failed":
        if status.finished_at:
            fields["finished_at"] = status.finished_at
        moved = move_job(
            job.pk, JobStatus.FAILED, _describe_failure(status), exit_code=status.exit_code, **fields
        )
    elif phase == "missing":
        if job.cancel_reason:
            # The deletion of a cancel the portal asked for, seen before the cancel was recorded.
            moved = move_job(job.pk, JobStatus.CANCELLED, job.cancel_reason, only_from=set(ACTIVE))
        elif job.status in (JobStatus.PENDING, JobStatus.RUNNING):
            moved = move_job(
                job.pk,
                JobStatus.FAILED,
                status.reason or _("the backend no longer knows this job (deleted outside the portal?)"),
                only_from={JobStatus.PENDING, JobStatus.RUNNING},
            )
    else:
        log.warning("job %s: unknown backend phase %r", job.pk, phase)
    if moved and phase in ("succeeded", "failed", "missing"):
        job_ended(job.pk)
        if _gone(status):
            release_job(job.pk)
    return moved


def _gone(status: BackendStatus) -> bool:
    """Does the status say that nothing of the job is left on the backend (its Job deleted and
    its last Pod gone)?"""
    return status.phase == "missing" and status.extra.get("pods") == 0


def _bounded(lines: list[str]) -> str:
    lines = lines[-settings.TALLER_FINAL_LOG_MAX_LINES :]
    text = "\n".join(lines)
    limit = settings.TALLER_FINAL_LOG_MAX_CHARS
    if len(text) > limit:
        text = text[-limit:]
        text = text[text.find("\n") + 1 :] if "\n" in text else text
    return text


def job_ended(job_id: int, *, log_lines: list[str] | None = None) -> None:
    """What follows a job's end, run once by whoever moved it to a terminal state: keep its final
    log, revoke its token, finish its MLflow run, and admit the project's next queued jobs."""
    job = Job.objects.select_related("project", "mlflow_token").get(pk=job_id)
    # A cancel kept the log as it was just before the backend stopped the job: not read again.
    if log_lines is None and job.backend and not job.final_log:
        try:
            log_lines = get_backend(job.backend).logs(job.pk, job.project.slug)
        except BackendError as error:
            log.warning("job %s: final log not available: %s", job.pk, error)
    if log_lines is not None:
        Job.objects.filter(pk=job.pk).update(final_log=_bounded(log_lines))
    if job.mlflow_token is not None:
        revoke_token(job.mlflow_token)
    if sync_run(job.pk) == "retry":
        # MLflow being down loses nothing: a task finishes the run later.
        transaction.on_commit(lambda: _enqueue(task("sync_job_run"), job.pk, countdown=30))
    transaction.on_commit(lambda: admit_and_dispatch(job.project_id))


def task(name: str):
    """A task of clusterjobs/tasks.py, from the Celery app's registry: the tasks call these
    actions, so the actions do not import them back (the app registers them when Django starts)."""
    return celery_app.tasks[f"clusterjobs.tasks.{name}"]


def _enqueue(job_task, *args, countdown: int = 0) -> None:
    try:
        job_task.apply_async(args, countdown=countdown)
    except Exception:
        log.exception("could not enqueue %s%s", job_task.name, args)


def sync_run(job_id: int) -> str:
    """Finish the job's MLflow run with the job's outcome and attach its final log.

    Returns "done", "retry" (MLflow unavailable) or "refused" (MLflow said no: nothing to retry)."""
    job = Job.objects.only("pk", "status", "mlflow_run_id", "final_log", "image_digest", "exit_code").get(
        pk=job_id
    )
    if not job.mlflow_run_id or job.status not in TERMINAL:
        return "done"
    try:
        tags = {"taller.status": job.status}
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
    if move_job(job_id, JobStatus.FAILED, reason):
        job_ended(job_id, log_lines=None)
        return True
    return False


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
    secret = {"MLFLOW_TRACKING_TOKEN", *(name for name in job.secret_env_names if name in env)}
    return env, tuple(sorted(secret))


def job_spec(
    job: Job,
    env: dict[str, str],
    limits: ProjectLimits | None = None,
    secret_names: tuple[str, ...] = (),
) -> JobSpec:
    return JobSpec(
        job_id=job.pk,
        project=job.project.slug,
        uid=job_uid(job),
        image=job.image,
        command=list(job.command),
        env=env,
        cpu=job.cpu,
        memory_mib=job.memory_mib,
        gpus=job.gpus,
        gpu_type=job.gpu_type,
        time_limit_seconds=job.time_limit_minutes * 60,
        backoff_limit=job.backoff_limit,
        limits=limits,
        secret_names=secret_names,
    )


def job_uid(job: Job) -> str:
    """Unique per job even across portal databases that reuse ids: recorded on the backend object
    so that a retried dispatch recognises its own job."""
    return f"{job.pk}-{job.created_at.strftime('%Y%m%dT%H%M%S%f')}"


def project_limits(project: Project) -> ProjectLimits:
    return admission.project_limits(project)


def _limits_digest(limits: ProjectLimits) -> str:
    values = [str(getattr(limits, f.name)) for f in dataclasses.fields(limits)]
    return hashlib.sha256("|".join(values).encode()).hexdigest()[:32]


# Per process, which projects it prepared (or saw prepared) lately: {(scope, slug): (digest, until)}.
_ready: dict[tuple[str, str], tuple[str, float]] = {}


def _scope(backend: Backend) -> str:
    return hashlib.sha256(backend.scope().encode()).hexdigest()[:32]


def forget_project_ready(backend: Backend, slug: str) -> None:
    """Make the next dispatch prepare the project on the backend again."""
    scope = _scope(backend)
    _ready.pop((scope, slug), None)
    PreparedProject.objects.filter(scope=scope, slug=slug).delete()


def ensure_project(backend: Backend, project: Project) -> ProjectLimits:
    """Prepare the project on the backend (Kubernetes: namespace, ResourceQuota, LimitRange, six
    requests) only when it never was, or its limits changed since the last successful preparation
    on this backend, or TALLER_PROJECT_READY_SECONDS passed since; otherwise nothing. Returns the
    limits, which the job spec carries so that a backend that finds the project gone while
    submitting prepares it in full again.

    The project's PreparedProject row is locked while it is prepared: concurrent first dispatches
    of a project wait for the one preparing it, then find it prepared (once, not once each)."""
    limits = project_limits(project)
    scope, digest = _scope(backend), _limits_digest(limits)
    key = (scope, project.slug)
    now = time.monotonic()
    memo = _ready.get(key)
    if memo is not None and memo[0] == digest and memo[1] > now:
        return limits  # this process prepared it (or saw it prepared) with these limits lately
    fresh_since = timezone.now() - timedelta(seconds=settings.TALLER_PROJECT_READY_SECONDS)
    rows = PreparedProject.objects.filter(scope=scope, slug=project.slug)
    if not rows.filter(digest=digest, prepared_at__gt=fresh_since).exists():
        with transaction.atomic():
            # The row first (its INSERT also takes SQLite's write lock), then its lock.
            PreparedProject.objects.bulk_create(
                [PreparedProject(scope=scope, slug=project.slug)], ignore_conflicts=True
            )
            row = rows.select_for_update().get()
            if row.digest != digest or row.prepared_at is None or row.prepared_at <= fresh_since:
                backend.ensure_project(limits)
                rows.update(digest=digest, prepared_at=timezone.now())
    _ready[key] = (digest, now + min(60.0, settings.TALLER_PROJECT_READY_SECONDS))
    return limits


def _claim_until(now: datetime | None = None, *, extra_seconds: float = 0) -> datetime:
    """When a claim taken (or renewed) now lapses, unless renewed again."""
    return (now or timezone.now()) + timedelta(seconds=settings.TALLER_DISPATCH_CLAIM_SECONDS + extra_seconds)


def _renew_claim(job_id: int, attempt: str) -> None:
    Job.objects.filter(pk=job_id, status=JobStatus.DISPATCHING, dispatch_claim=attempt).update(
        dispatch_claimed_until=_claim_until()
    )


@contextmanager
def _claim_kept(job_id: int, attempt: str) -> Iterator[None]:
    """Renew the attempt's claim on the job every third of TALLER_DISPATCH_CLAIM_SECONDS while the
    block runs (a backend call may take longer than the claim lasts); if the process dies, the
    renewals stop with it and the claim lapses."""
    stop = threading.Event()

    def renew() -> None:
        try:
            while not stop.wait(settings.TALLER_DISPATCH_CLAIM_SECONDS / 3):
                try:
                    _renew_claim(job_id, attempt)
                except DatabaseError as error:  # the next renewal may get through
                    log.warning("could not renew the dispatch claim on job %s: %s", job_id, error)
        finally:
            connection.close()  # this thread's own connection

    renewer = threading.Thread(target=renew, name=f"dispatch-claim-{job_id}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()


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
    with _claim_kept(job.pk, attempt):
        return _create_on_backend(job, backend, key, claim)


def _create_on_backend(job: Job, backend: Backend, key: str | None, claim: dict) -> str:
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
    limits = ensure_project(backend, job.project)
    env, secret_names = job_environment(job, key)
    backend.submit(job_spec(job, env, limits, secret_names))
    if move_job(
        job.pk,
        JobStatus.PENDING,
        _("created on the backend as %(name)s") % {"name": job.backend_name},
        only_from={JobStatus.DISPATCHING},
    ):
        return "submitted"
    # Cancelled while we were creating it (or already ended): do not leave it running.
    if Job.objects.filter(pk=job.pk, status=JobStatus.CANCELLED).exists():
        if backend.cancel(job.pk, job.project.slug):
            Job.objects.filter(pk=job.pk).update(lingering=True)  # until its Pods are gone
        return "cancelled"
    return "submitted"


DISPATCH_RETRYING = gettext_noop("dispatch failed, retrying: %(error)s")


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
    token, key = create_token(job.submitter, f"job {job.pk}", project=job.project)
    Job.objects.filter(pk=job.pk).update(mlflow_token=token, backend=backend.name, **claim)
    return key


def _adopt(job: Job, found: BackendStatus) -> str:
    """Record a job an earlier attempt created on the backend, if it carries this job's uid."""
    theirs = found.extra.get("uid")
    if theirs != job_uid(job):  # another job's, or none recorded: not ours to adopt
        raise BackendError(
            _("%(name)s already exists on the backend for another job (uid %(uid)s)")
            % {"name": job.backend_name, "uid": theirs},
            permanent=True,
        )
    move_job(
        job.pk,
        JobStatus.PENDING,
        _("found on the backend as %(name)s") % {"name": job.backend_name},
        only_from={JobStatus.DISPATCHING},
    )
    apply_status(found)
    return "found"


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
    whatever the number of jobs), dispatch again the admitted jobs whose dispatch was lost, finish
    cancels a dead worker left half done, and release ended jobs whose processes are gone.

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
    counts = {"skipped": 0, "checked": 0, "moved": 0, "redispatched": 0, "cancelled": 0, "released": 0}
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
        admit_and_dispatch()
    stale_since = timezone.now() - timedelta(seconds=settings.TALLER_DISPATCH_STALE_SECONDS)
    stale = (
        Job.objects.filter(status=JobStatus.DISPATCHING)
        .annotate(since=Max("transitions__at"))
        .filter(since__lt=stale_since)
        .values_list("pk", flat=True)
    )
    dispatch_job = task("dispatch_job")
    for job_id in stale:
        _enqueue(dispatch_job, job_id)
        counts["redispatched"] += 1
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
    return int(_end_cancelled(job.pk, job.cancel_reason, log_lines=None))


def drain_queues() -> list[int]:
    """Admit and dispatch queued jobs of every project (repairs an admission lost after commit),
    and dispatch again the admitted jobs whose dispatch was lost; returns the jobs sent."""
    return admit_and_dispatch() + redispatch_lost()


def redispatch_lost() -> list[int]:
    """Dispatch again the ``dispatching`` jobs that no live attempt holds: a claim that lapsed (its
    worker died, or its retry was lost with one), or no claim TALLER_DISPATCH_CLAIM_SECONDS after
    admission (the message was lost: the filesystem broker of the embedded default does not
    deliver again what a dead worker had taken). A duplicate is harmless: dispatch is idempotent."""
    dispatch_job = task("dispatch_job")
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
        _enqueue(dispatch_job, job_id)
    return lost
