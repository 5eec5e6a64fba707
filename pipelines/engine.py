"""How a pipeline run moves: a step starts once every step it depends on has succeeded, a failed
step retries with backoff or marks what depends on it ``upstream failed``, and the run ends when
no step is left to decide. Called from the tasks (tasks.py) and the actions (actions.py).

Every change to a run's steps happens under the run's row lock, so two steps ending together
decide one after the other. Deciding what is ready after a step ends reads and writes only that
step's dependants (``StepRun.unmet`` counts each step's upstream steps still to succeed), so it
costs the same in a pipeline of 10 steps or of 500."""

import logging
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_noop

from clusterjobs import actions as job_actions
from clusterjobs.models import TERMINAL, Job, JobStatus
from experiments import gateway

from . import definition, queue
from .models import NOT_STARTED, OPEN, PipelineRun, RunStatus, StepRun, StepStatus

log = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 3600
REPAIR_BATCH = 500
PARENT_STATUS = {RunStatus.SUCCEEDED: "FINISHED", RunStatus.FAILED: "FAILED", RunStatus.CANCELLED: "KILLED"}


def backoff(step: StepRun) -> int:
    """Seconds before a failed step's next attempt: its delay, doubled at each attempt."""
    return min(step.retry_delay_seconds * 2 ** max(step.attempts - 1, 0), MAX_BACKOFF_SECONDS)


def lock_run(run_id: int) -> PipelineRun:
    return (
        PipelineRun.objects.select_for_update(of=("self",))
        .select_related("project", "started_by")
        .get(pk=run_id)
    )


def start_ready(run: PipelineRun, names: list[str] | None = None) -> list[int]:
    """Claim the waiting steps (among ``names``) with nothing left to wait for, and send their
    submission once the transaction commits. Runs under the run's lock."""
    if run.status != RunStatus.RUNNING:
        return []
    ready = StepRun.objects.filter(run=run, status=StepStatus.WAITING, unmet=0)
    if names is not None:
        ready = ready.filter(name__in=names)
    ids = list(ready.values_list("pk", flat=True))
    if ids:
        StepRun.objects.filter(pk__in=ids).update(status=StepStatus.STARTING, reason="")
        transaction.on_commit(lambda: [queue.send_submit_step(pk) for pk in ids])
    return ids


def submit_step(step_id: int) -> int | None:
    """Submit a claimed step (or a retry that is due) as an ordinary job; returns the job's id.
    A refusal (the quota, an archived project) fails the step. Run again, it does nothing."""
    run_id = StepRun.objects.filter(pk=step_id).values_list("run_id", flat=True).first()
    if run_id is None:
        return None
    with transaction.atomic():
        run = lock_run(run_id)
        step = StepRun.objects.filter(
            pk=step_id, status__in=[StepStatus.STARTING, StepStatus.RETRYING]
        ).first()
        if step is None or (step.not_before and step.not_before > timezone.now()):
            return None
        if run.status != RunStatus.RUNNING:
            _end_step(step, StepStatus.SKIPPED, gettext_noop("the pipeline run ended"))
            return None
        upstream = {
            name: run_id
            for name, run_id in StepRun.objects.filter(run=run, name__in=step.depends_on).values_list(
                "name", "job__mlflow_run_id"
            )
            if run_id
        }
        experiment = run.definition.get("experiment", "default")
        try:
            request = definition.job_request(
                run.started_by,
                run.project,
                step.spec,
                upstream,
                experiment,
                run_id=str(run.pk),
                step_attempt=str(step.attempts + 1),
            )
            job = job_actions.submit_job(run.started_by, run.project, request, schedule_id=run.schedule_id)
        except ValidationError as error:
            reason = "; ".join(f"{field}: {' '.join(m)}" for field, m in error.message_dict.items())
            _end_step(
                step, StepStatus.FAILED, gettext_noop("refused at submission: %(why)s") % {"why": reason}
            )
            fail_downstream(run, step)
            finish_if_done(run)
            return None
        now = timezone.now()
        StepRun.objects.filter(pk=step.pk).update(
            status=StepStatus.SUBMITTED,
            job=job,
            attempts=F("attempts") + 1,
            job_ids=[*step.job_ids, job.pk],
            started_at=step.started_at or now,
            not_before=None,
            reason="",
        )
    return job.pk


def step_run_additions(job: Job) -> tuple[dict, dict] | None:
    """What a step's job run is created with (``clusterjobs.runs.add_to_runs``, when the dispatch
    creates it): grouped under the pipeline's parent run in MLflow. None for other jobs."""
    step = StepRun.objects.filter(job_id=job.pk).select_related("run").first()
    if step is None:
        return None
    tags = {"taller.pipeline_run": str(step.run_id), "taller.pipeline_step": step.name}
    if step.run.mlflow_run_id:
        tags["mlflow.parentRunId"] = step.run.mlflow_run_id
    return tags, {}


def _end_step(step: StepRun, status: str, reason: str) -> None:
    StepRun.objects.filter(pk=step.pk).update(status=status, reason=reason, finished_at=timezone.now())
    step.status = status


def job_ended(job_id: int) -> str:
    """A job ended: if it is a step's current job, the step succeeds (its dependants may start),
    retries, or fails (its dependants are ``upstream failed``). Run again, it does nothing."""
    run_id = StepRun.objects.filter(job_id=job_id).values_list("run_id", flat=True).first()
    if run_id is None:
        return "not a step"
    with transaction.atomic():
        run = lock_run(run_id)
        step = StepRun.objects.filter(run=run, job_id=job_id, status=StepStatus.SUBMITTED).first()
        job = Job.objects.filter(pk=job_id, status__in=TERMINAL).values("status", "status_reason").first()
        if step is None or job is None:
            return "already decided"
        if job["status"] == JobStatus.SUCCEEDED:
            _end_step(step, StepStatus.SUCCEEDED, "")
            _release(run, step)
        elif (
            job["status"] == JobStatus.FAILED
            and step.attempts <= step.retries
            and run.status == RunStatus.RUNNING
        ):
            delay = backoff(step)
            StepRun.objects.filter(pk=step.pk).update(
                status=StepStatus.RETRYING,
                not_before=timezone.now() + timedelta(seconds=delay),
                reason=gettext_noop("attempt %(n)s failed (%(why)s); retrying in %(s)s s")
                % {"n": step.attempts, "why": job["status_reason"], "s": delay},
            )
            transaction.on_commit(lambda: queue.send_submit_step(step.pk, countdown=delay))
            return "retrying"
        else:
            status = StepStatus.CANCELLED if job["status"] == JobStatus.CANCELLED else StepStatus.FAILED
            _end_step(step, status, job["status_reason"])
            fail_downstream(run, step)
        finish_if_done(run)
        return step.status


def _release(run: PipelineRun, step: StepRun) -> None:
    """One upstream step fewer for each dependant; those with none left start."""
    if not step.dependants:
        return
    StepRun.objects.filter(run=run, name__in=step.dependants, status=StepStatus.WAITING).update(
        unmet=F("unmet") - 1
    )
    start_ready(run, step.dependants)


def fail_downstream(run: PipelineRun, step: StepRun) -> None:
    """Every step after ``step`` (transitively) that has not started is ``upstream failed``."""
    frontier, seen = list(step.dependants), set()
    while frontier:
        seen.update(frontier)
        rows = StepRun.objects.filter(run=run, name__in=frontier).values_list("dependants", flat=True)
        frontier = [name for dependants in rows for name in dependants if name not in seen]
    if seen:
        StepRun.objects.filter(run=run, name__in=seen, status__in=NOT_STARTED).update(
            status=StepStatus.UPSTREAM_FAILED,
            reason=gettext_noop("upstream step %(step)s did not succeed") % {"step": step.name},
            finished_at=timezone.now(),
        )


def finish_if_done(run: PipelineRun) -> None:
    """End a running run whose steps are all decided: succeeded if every step did."""
    if run.status != RunStatus.RUNNING or StepRun.objects.filter(run=run, status__in=OPEN).exists():
        return
    failed = StepRun.objects.filter(run=run).exclude(status=StepStatus.SUCCEEDED).exists()
    run.status = RunStatus.FAILED if failed else RunStatus.SUCCEEDED
    run.finished_at = timezone.now()
    PipelineRun.objects.filter(pk=run.pk).update(status=run.status, finished_at=run.finished_at)
    transaction.on_commit(lambda: (queue.send_finish_parent_run(run.pk), queue.send_notify_run(run.pk)))


def finish_parent_run(run_id: int) -> None:
    run = PipelineRun.objects.filter(pk=run_id).exclude(status=RunStatus.RUNNING).first()
    if run is not None and run.mlflow_run_id:
        gateway.finish_run(run.mlflow_run_id, PARENT_STATUS[run.status])


def repair() -> int:
    """What lost messages left behind: claimed steps never submitted, retries due, steps whose
    job ended unheard. Each send is idempotent; returns how many were sent."""
    running = StepRun.objects.filter(run__status=RunStatus.RUNNING)
    due = running.filter(status=StepStatus.STARTING) | running.filter(
        status=StepStatus.RETRYING, not_before__lte=timezone.now()
    )
    sent = [queue.send_submit_step(pk) for pk in due.values_list("pk", flat=True)[:REPAIR_BATCH]]
    quiet = timezone.now() - timedelta(seconds=30)
    ended = StepRun.objects.filter(
        status=StepStatus.SUBMITTED, job__status__in=TERMINAL, job__finished_at__lt=quiet
    ).values_list("job_id", flat=True)[:REPAIR_BATCH]
    sent += [queue.send_step_job_ended(job_id) for job_id in ended]
    return len(sent)
