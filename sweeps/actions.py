"""The verbs of sweeps: create, pause, resume, stop, extend. What happens between them (trials
started when a slot frees, their objectives read when they end) is ``runner.advance``, which these
call after commit. The caller has checked who may do this (``portal.projects.access``)."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from clusterjobs import actions as job_actions
from clusterjobs.models import Job
from experiments import gateway
from portal.projects.models import Project

from . import queue, space, tracking
from .definition import MAX_TRIALS, Definition
from .models import STATUS_FIELDS, Algorithm, Sweep, SweepStatus, TrialState


def create_sweep(user, project: Project, definition: Definition) -> Sweep:
    """The sweep row and its parent MLflow run, in one transaction (an MLflow failure leaves
    nothing); its first trials start after commit."""
    with transaction.atomic():
        sweep = Sweep.objects.create(
            project=project,
            created_by=user,
            name=definition.name,
            spec=definition.spec,
            space={p.name: p.as_dict() for p in definition.parameters},
            algorithm=definition.algorithm,
            objective=definition.objective,
            direction=definition.direction,
            max_trials=definition.max_trials,
            max_parallel=definition.max_parallel,
            seed=definition.seed,
            prune=definition.prune,
            status_message=gettext_noop("started by %(user)s"),
            status_values={"user": user.username},
        )
        try:
            experiment_id, run_id = tracking.create_parent_run(sweep, user, definition.parameters)
        except gateway.GatewayError as error:
            if error.status in (400, 409):
                raise ValidationError({"experiment": str(error)}) from error
            raise tracking.unavailable(error) from error
        Sweep.objects.filter(pk=sweep.pk).update(mlflow_experiment_id=experiment_id, mlflow_run_id=run_id)
        sweep.refresh_from_db()
        transaction.on_commit(lambda: queue.send_advance(sweep.pk))
    return sweep


def _finished(sweep: Sweep) -> None:
    if sweep.status != SweepStatus.RUNNING:
        raise ValidationError(
            {"status": _("The sweep is %(status)s.") % {"status": sweep.get_status_display()}}
        )


def pause_sweep(user, sweep: Sweep) -> Sweep:
    """No new trials; the running ones go on and are counted when they end."""
    with transaction.atomic():
        sweep = Sweep.objects.select_for_update().get(pk=sweep.pk)
        _finished(sweep)
        sweep.say(SweepStatus.PAUSED, gettext_noop("paused by %(user)s"), user=user.username)
        sweep.save(update_fields=STATUS_FIELDS)
    return sweep


def resume_sweep(user, sweep: Sweep) -> Sweep:
    with transaction.atomic():
        sweep = Sweep.objects.select_for_update().get(pk=sweep.pk)
        if sweep.status != SweepStatus.PAUSED:
            raise ValidationError(
                {
                    "status": _("Only a paused sweep resumes; this one is %(status)s.")
                    % {"status": sweep.get_status_display()}
                }
            )
        sweep.say(SweepStatus.RUNNING, gettext_noop("resumed by %(user)s"), user=user.username)
        sweep.save(update_fields=STATUS_FIELDS)
        transaction.on_commit(lambda: queue.send_advance(sweep.pk))
    return sweep


def stop_sweep(user, sweep: Sweep) -> Sweep:
    """No new trials, and the running ones cancelled (their quota freed); the sweep ends."""
    with transaction.atomic():
        sweep = Sweep.objects.select_for_update().get(pk=sweep.pk)
        if sweep.is_finished():
            raise ValidationError(
                {
                    "status": _("The sweep has already ended (%(status)s).")
                    % {"status": sweep.get_status_display()}
                }
            )
        sweep.say(SweepStatus.STOPPED, gettext_noop("stopped by %(user)s"), user=user.username)
        sweep.finished_at = timezone.now()
        sweep.save(update_fields=[*STATUS_FIELDS, "finished_at"])
        active = list(sweep.trials.filter(state=TrialState.ACTIVE).values_list("job_id", flat=True))
    for job in Job.objects.filter(pk__in=active).select_related("project"):
        if not job.is_terminal():
            try:
                job_actions.cancel_job(user, job)
            except ValidationError:
                pass  # it ended meanwhile
    try:
        tracking.end_parent_run(sweep, "KILLED")
    except gateway.GatewayError:
        pass  # the parent run stays open; the sweep's own record says it stopped
    queue.send_advance(sweep.pk)  # the cancelled trials are counted
    return sweep


def extend_sweep(user, sweep: Sweep, more) -> Sweep:
    """``more`` trials on top of the limit; a completed sweep runs again."""
    if isinstance(more, bool) or not isinstance(more, int) or more < 1:
        raise ValidationError({"trials": _("Give a whole number of trials, at least 1.")})
    with transaction.atomic():
        sweep = Sweep.objects.select_for_update().get(pk=sweep.pk)
        if sweep.status == SweepStatus.STOPPED:
            raise ValidationError({"status": _("A stopped sweep cannot be extended.")})
        if sweep.max_trials + more > MAX_TRIALS:
            raise ValidationError({"trials": _("At most %(n)s trials in a sweep.") % {"n": MAX_TRIALS}})
        if sweep.algorithm == Algorithm.GRID:
            parameters, _problems = space.parse_space(sweep.space)
            raise ValidationError(
                {
                    "trials": _("A grid sweep has exactly %(n)s points: every one is already a trial.")
                    % {"n": space.grid_size(parameters)}
                }
            )
        sweep.max_trials += more
        status = SweepStatus.RUNNING if sweep.status == SweepStatus.COMPLETED else sweep.status
        sweep.finished_at = None
        sweep.say(status, gettext_noop("extended by %(n)s trials by %(user)s"), n=more, user=user.username)
        sweep.save(update_fields=["max_trials", *STATUS_FIELDS, "finished_at"])
        transaction.on_commit(lambda: queue.send_advance(sweep.pk))
    return sweep
