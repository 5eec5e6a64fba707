"""The verbs people call on jobs: submit, cancel, re-run; save and delete a project's templates.
Pages, the API and the command line (through the API) call these; what the worker and the watcher do next is in dispatch.py and sync.py.

The caller has checked who may do this (``portal.projects.access``: the pages and the API ask it
before they call) and what was asked (``validation.check_request`` gives a ``JobRequest``).
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from experiments import gateway
from portal.errors import ServiceUnavailable
from portal.projects.actions import record
from portal.projects.models import Project

from . import admission, queue, sync
from .backends import BackendError, get_backend
from .models import ACTIVE, Job, JobStatus, JobTemplate, JobTransition
from .request import JobRequest
from .validation import recheck


def submit_job(
    user,
    project: Project,
    request: JobRequest,
    *,
    rerun_of: Job | None = None,
    schedule_id: int | None = None,
) -> Job:
    """Create a queued job for a checked request in its MLflow experiment (created the first time);
    after commit, admit and dispatch what fits. The job's run is created when it is dispatched
    (dispatch.py), so that the run starts when the job does, not when it was submitted.

    ``schedule_id``: the schedule that starts it (directly, or as a pipeline step), for the mark.

    Raises ValidationError (the project's quota, checked again under its lock; the experiment
    MLflow refuses) or ServiceUnavailable when MLflow cannot be reached: then nothing is
    created.
    """
    with transaction.atomic():
        # Under the quota's row lock, held until commit: two submissions cannot both spend the last
        # of the project's budget.
        admission.check_submission(
            project,
            cpu=request.cpu,
            memory_mib=request.memory_mib,
            gpus=request.gpus,
            time_limit_minutes=request.time_limit_minutes,
            submitter=user,
        )
        job = Job.objects.create(
            project=project,
            submitter=user,
            rerun_of=rerun_of,
            schedule_id=schedule_id,
            scheduled=schedule_id is not None,
            **request.model_fields(),
        )
        # Stored in English, as the API shows it; pages translate it (reasons.py).
        reason = (
            gettext_noop("re-run of job %(id)s by %(user)s") % {"id": rerun_of.pk, "user": user.username}
            if rerun_of
            else gettext_noop("submitted by %(user)s") % {"user": user.username}
        )
        JobTransition.objects.create(job=job, to_status=JobStatus.QUEUED, reason=reason, at=job.created_at)
        Job.objects.filter(pk=job.pk).update(status_reason=reason)
        record(user, project, "job.rerun" if rerun_of else "job.submit", job.name, target=f"job {job.pk}")
        # Last step of the transaction: if MLflow fails, the job row goes with the rollback.
        try:
            experiment_id = gateway.ensure_experiment(project.slug, request.experiment)
        except gateway.GatewayError as error:
            if error.status in (400, 409):
                raise ValidationError({"experiment": str(error)}) from error
            raise ServiceUnavailable(
                _(
                    "MLflow is unavailable, so the job's experiment could not be checked; nothing was submitted. Try again shortly. (%(error)s)"
                )
                % {"error": error}
            ) from error
        Job.objects.filter(pk=job.pk).update(mlflow_experiment_id=experiment_id)
        # The job as submitted (queued): admission may move it as soon as the transaction commits.
        job.refresh_from_db()
        transaction.on_commit(lambda: _admit_submitted(job.pk, project.pk, reason))
    return job


def _admit_submitted(job_id: int, project_id: int, submitted_reason: str) -> None:
    """Admit what fits; a submitted job left queued says why it waits."""
    queue.admit_and_dispatch()
    Job.objects.filter(pk=job_id, status=JobStatus.QUEUED, status_reason=submitted_reason).update(
        status_reason=admission.WAITING_FOR_QUOTA
    )


def cancel_job(user, job: Job) -> bool:
    """Stop the job on its backend and end it as cancelled. Returns False if it had already ended.

    The cancel is recorded on the job (its reason, and the log so far) before the backend is
    told: should the watcher see the deletion before this function moves the job, it ends the job
    as this cancel, not as a job deleted behind the portal's back. Whoever moves it runs the end
    handling. A backend whose processes outlive the call (a cluster's terminating Pods) leaves the
    job ``lingering``: admission counts its resources until they are gone. The caller has checked
    that ``user`` may change the job."""
    job.refresh_from_db(fields=["status", "backend"])
    if job.is_terminal():
        raise ValidationError(
            {"status": _("The job has already ended (%(status)s).") % {"status": job.get_status_display()}}
        )
    reason = gettext_noop("cancelled by %(user)s") % {"user": user.username}
    if job.status == JobStatus.QUEUED:
        with transaction.atomic():
            ended = sync.end_cancelled(job.pk, reason, log_lines=None)
            if ended:
                record(user, job.project, "job.cancel", job.name, target=f"job {job.pk}")
        return ended
    backend = get_backend(job.backend or None)
    try:
        lines = backend.logs(job.pk, job.project.slug)
    except BackendError:
        lines = None
    asked = Job.objects.filter(pk=job.pk, status__in=ACTIVE)
    if not asked.update(cancel_reason=reason, final_log=sync.bounded_log(lines or []), lingering=True):
        return False  # it ended (or was cancelled) meanwhile
    try:
        lingers = backend.cancel(job.pk, job.project.slug)
    except BackendError as error:
        if not asked.update(cancel_reason="", final_log="", lingering=False):
            # The call failed after the backend acted on it, and the watcher already saw the job go.
            cancelled = Job.objects.filter(pk=job.pk, status=JobStatus.CANCELLED).exists()
            if cancelled:
                record(user, job.project, "job.cancel", job.name, target=f"job {job.pk}")
            return cancelled
        raise ServiceUnavailable(
            _("The job could not be stopped on its backend; it keeps running. Try again. (%(error)s)")
            % {"error": error}
        ) from error
    if not lingers:
        Job.objects.filter(pk=job.pk, lingering=True).update(lingering=False)
    with transaction.atomic():  # ended here or by the watcher, it is this cancel
        sync.end_cancelled(job.pk, reason, log_lines=lines)
        record(user, job.project, "job.cancel", job.name, target=f"job {job.pk}")
    return True


def rerun_job(user, job: Job) -> Job:
    """Submit a new job with the same request, checked again against today's limits and quota
    (secret values included: they never leave the server). The caller has checked that ``user``
    may change the job."""
    request = recheck(user, job.project, JobRequest.from_model(job))
    return submit_job(user, job.project, request, rerun_of=job)


def save_template(user, project: Project, title: str, description: str, request: JobRequest) -> JobTemplate:
    """A project's new template from a checked request (its columns; the name is the title)."""
    title = title.strip()
    if not title:
        raise ValidationError({"title": _("Give the template a title.")})
    if JobTemplate.objects.filter(project=project, title=title).exists():
        raise ValidationError({"title": _("The project already has a template of this title.")})
    columns = {f.name for f in JobTemplate._meta.concrete_fields}
    fields = {column: value for column, value in request.model_fields().items() if column in columns}
    with transaction.atomic():
        template = JobTemplate.objects.create(
            project=project, created_by=user, title=title, description=description.strip(), **fields
        )
        record(user, project, "job.template.create", title, target=f"job template {template.pk}")
    return template


def delete_template(user, template: JobTemplate) -> None:
    """Delete a project's own template (a site-wide one is the site admins', in the admin)."""
    if template.project_id is None:
        raise PermissionDenied(_("Templates for every project are changed by site admins only."))
    with transaction.atomic():
        record(
            user,
            template.project,
            "job.template.delete",
            template.title,
            target=f"job template {template.pk}",
        )
        template.delete()
