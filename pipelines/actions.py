"""The verbs people call on pipelines: start a run from a definition, cancel a run, re-run it
(all of it, or from the failed steps on). The caller has checked who may do it
(``portal.projects.access``); what was asked is checked here (``definition.check``), and nothing is
created unless all of it is accepted."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from clusterjobs import actions as job_actions
from clusterjobs.models import Job
from experiments import gateway
from portal.errors import ServiceUnavailable
from portal.projects.actions import record

from . import definition, engine, queue
from .models import NOT_STARTED, Pipeline, PipelineRun, RunStatus, StepRun, StepStatus


def define_pipeline(user, project, data: dict) -> tuple[Pipeline, definition.Definition]:
    """Check the definition ``data`` and keep it under its name (created, or given this definition)."""
    checked = definition.check(user, project, data)
    with transaction.atomic():
        now = timezone.now()
        pipeline, created = Pipeline.objects.get_or_create(
            project=project,
            name=checked.name,
            defaults={
                "definition": checked.as_json(),
                "created_by": user,
                "created_at": now,
                "updated_at": now,
            },
        )
        changed = not created and pipeline.definition != checked.as_json()
        if not created:
            Pipeline.objects.filter(pk=pipeline.pk).update(definition=checked.as_json(), updated_at=now)
        if created or changed:
            message = f"{len(checked.steps)} steps"  # stored in English, as every event
            record(user, project, "pipeline.define", message, target=f"pipeline {pipeline.name}")
    return pipeline, checked


def start_pipeline(user, project, data: dict, *, schedule=None) -> PipelineRun:
    """Check the definition ``data``, keep it under its name and start a run of it; all or nothing."""
    with transaction.atomic():
        pipeline, checked = define_pipeline(user, project, data)
        run = _create_run(user, pipeline, checked, kept={}, rerun_of=None, schedule=schedule)
        how = f"{pipeline.name}, by schedule {schedule.pk}" if schedule is not None else pipeline.name
        record(user, project, "pipeline.run", how, target=f"pipeline run {run.pk}")
        return run


def _create_run(
    user,
    pipeline: Pipeline,
    checked: definition.Definition,
    kept: dict[str, StepRun],
    rerun_of: PipelineRun | None,
    schedule=None,
) -> PipelineRun:
    """A run of ``checked`` with its steps; ``kept`` are steps of an earlier run that succeeded
    and are not run again. Its parent MLflow run is created last: if MLflow fails, nothing stays."""
    run = PipelineRun.objects.create(
        pipeline=pipeline,
        project=pipeline.project,
        started_by=user,
        definition=checked.as_json(),
        rerun_of=rerun_of,
        schedule=schedule,
    )
    dependants: dict[str, list[str]] = {step.name: [] for step in checked.steps}
    for step in checked.steps:
        for upstream in step.depends_on:
            dependants[upstream].append(step.name)
    rows = []
    for position, step in enumerate(checked.steps):
        old = kept.get(step.name)
        rows.append(
            StepRun(
                run=run,
                name=step.name,
                position=position,
                spec=step.spec,
                depends_on=step.depends_on,
                dependants=dependants[step.name],
                unmet=sum(1 for upstream in step.depends_on if upstream not in kept),
                retries=step.retries,
                retry_delay_seconds=step.retry_delay_seconds,
                **(_kept_fields(old) if old else {}),
            )
        )
    StepRun.objects.bulk_create(rows)
    try:
        experiment_id, run_id = gateway.create_parent_run(
            pipeline.project.slug,
            checked.experiment,
            f"{pipeline.name} (pipeline run {run.pk})",
            user.username,
            {"taller.pipeline_run": str(run.pk), "taller.pipeline": pipeline.name},
        )
    except gateway.GatewayError as error:
        if error.status in (400, 409):
            raise ValidationError({"experiment": str(error)}) from error
        raise ServiceUnavailable(
            _(
                "MLflow is unavailable, so the pipeline's run could not be created; nothing was started. (%(error)s)"
            )
            % {"error": error}
        ) from error
    PipelineRun.objects.filter(pk=run.pk).update(mlflow_experiment_id=experiment_id, mlflow_run_id=run_id)
    run.mlflow_experiment_id, run.mlflow_run_id = experiment_id, run_id
    engine.start_ready(run)
    return run


def _kept_fields(old: StepRun) -> dict:
    return {
        "status": StepStatus.SUCCEEDED,
        "kept": True,
        "job_id": old.job_id,
        "job_ids": old.job_ids,
        "attempts": old.attempts,
        "started_at": old.started_at,
        "finished_at": old.finished_at,
        "reason": gettext_noop("kept from pipeline run %(id)s") % {"id": old.run_id},
    }


def cancel_run(user, run: PipelineRun) -> None:
    """Skip the steps not yet started and cancel the running ones' jobs. The caller has checked
    that ``user`` may change the run."""
    reason = gettext_noop("cancelled by %(user)s") % {"user": user.username}
    with transaction.atomic():
        run = engine.lock_run(run.pk)
        if run.is_finished():
            raise ValidationError(
                {
                    "status": _("The pipeline run has already ended (%(status)s).")
                    % {"status": run.get_status_display()}
                }
            )
        now = timezone.now()
        PipelineRun.objects.filter(pk=run.pk).update(
            status=RunStatus.CANCELLED, status_reason=reason, finished_at=now
        )
        StepRun.objects.filter(run=run, status__in=NOT_STARTED).update(
            status=StepStatus.SKIPPED, reason=reason, finished_at=now
        )
        job_ids = list(
            StepRun.objects.filter(run=run, status=StepStatus.SUBMITTED).values_list("job_id", flat=True)
        )
        record(user, run.project, "pipeline.cancel", run.pipeline.name, target=f"pipeline run {run.pk}")
        transaction.on_commit(lambda: (queue.send_finish_parent_run(run.pk), queue.send_notify_run(run.pk)))
    for job in Job.objects.filter(pk__in=job_ids).select_related("project"):
        try:
            job_actions.cancel_job(user, job)
        except ValidationError:
            pass  # it ended meanwhile; its end decides the step


def rerun(user, run: PipelineRun, *, from_failed: bool = False) -> PipelineRun:
    """A new run of the same definition, checked again against today's limits and quota. From the
    failed steps on, the steps that succeeded are kept (their jobs and MLflow runs) and the others
    run again."""
    if not run.is_finished():
        raise ValidationError({"status": _("The pipeline run is still running: cancel it first.")})
    checked = definition.check(user, run.project, run.definition)
    kept: dict[str, StepRun] = {}
    if from_failed:
        kept = {step.name: step for step in run.steps.filter(status=StepStatus.SUCCEEDED)}
        if len(kept) == len(checked.steps):
            raise ValidationError({"from_failed": _("Every step succeeded: there is nothing to run again.")})
    with transaction.atomic():
        again = _create_run(user, run.pipeline, checked, kept, rerun_of=run)
        how = "from the failed steps" if from_failed else "all steps"
        message = f"{run.pipeline.name}: run {run.pk} again, {how}"
        record(user, run.project, "pipeline.rerun", message, target=f"pipeline run {again.pk}")
        return again
