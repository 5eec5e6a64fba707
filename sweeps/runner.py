"""Moving a sweep along: its ended trials counted (the objective read from each trial's run and
told to the search), then, if the sweep runs and a slot is free, the next trial asked of the
sampler and submitted as an ordinary job (the jobs' own admission and fair sharing decide when it
runs). Called by the ``advance_sweep`` task after any trial's job moves, and periodically.

Everything happens under the sweep's row lock: two workers advancing the same sweep take turns,
and a trial's row commits with its job, so a restart neither repeats nor loses a trial.

A slot is free when fewer than ``max_parallel`` trials are active and none of them still waits in
the queue: a trial waiting for quota means the quota is full, and asking the sampler then would
only give it less to learn from. The next trial is started when the waiting one is admitted."""

import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Max, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_noop

from clusterjobs import actions as job_actions
from clusterjobs.models import JobStatus
from experiments import gateway
from portal.errors import ServiceUnavailable

from . import definition, pruning, sampler, space, tracking
from .models import STATUS_FIELDS, Sweep, SweepStatus, Trial, TrialState

log = logging.getLogger(__name__)

NO_OBJECTIVE = gettext_noop(
    "paused: no trial logged the metric “%(metric)s”; check the objective's name and that the script logs it"
)
JOB_ENDED = {JobStatus.SUCCEEDED: TrialState.COMPLETE, JobStatus.FAILED: TrialState.FAILED}
ENDED = [*JOB_ENDED, JobStatus.CANCELLED]  # a trial's job in one of these: the trial is to be counted


def advance(sweep_id: int) -> str:
    """Count ended trials, start what fits, complete a sweep with nothing left. Returns a word
    for the worker's log."""
    with transaction.atomic():
        sweep = (
            Sweep.objects.select_for_update()
            .select_related("project", "created_by")
            .filter(pk=sweep_id)
            .first()
        )
        if sweep is None:
            return "gone"
        counts = _counts(sweep)
        if counts["ended"]:  # trials whose job has ended, to count (most advances have none)
            counts["active"] -= _collect(sweep)
        pruned = pruning.to_prune(sweep)
        # One trial at most: the one started waits in the queue until this commits, and a trial
        # waiting holds the next back; its admission moves it and advances the sweep again.
        started = (
            sweep.status == SweepStatus.RUNNING and _slot_free(sweep, counts) and _start_trial(sweep, counts)
        )
        if not started:
            _maybe_complete(sweep, counts)
    pruning.stop(sweep, pruned)  # their jobs' end advances the sweep again
    return f"{sweep.status}, {int(started)} started, {len(pruned)} pruned"


def _collect(sweep: Sweep) -> int:
    """Count the active trials whose job has ended; returns how many were counted (a trial whose
    run cannot be read now stays active, for the next advance)."""
    ended = list(sweep.trials.filter(state=TrialState.ACTIVE, job__status__in=ENDED).select_related("job"))
    counted = 0
    for trial in ended:
        job = trial.job
        trial.ended_at = job.finished_at or timezone.now()
        trial.state = JOB_ENDED.get(job.status, TrialState.CANCELLED)
        if trial.state == TrialState.CANCELLED and trial.note == pruning.PRUNED:
            trial.state = TrialState.PRUNED
        if job.status == JobStatus.SUCCEEDED:
            try:
                trial.objective = tracking.read_objective(
                    sweep.project.slug, job.mlflow_run_id, sweep.objective
                )
            except gateway.GatewayError as error:
                if error.status != 404:
                    log.warning(
                        "sweep %s: trial %s's run unreadable, later: %s", sweep.pk, trial.number, error
                    )
                    continue  # counted at the next advance
            if trial.objective is None:
                trial.state = TrialState.FAILED
                trial.note = gettext_noop("no objective logged")
            elif sweep.prune:
                trial.curve = _curve(sweep, trial)
        trial.save(update_fields=["state", "objective", "note", "ended_at", "curve"])
        counted += 1
        if trial.objective is not None:
            _record_best(sweep, trial)
    if ended and sweep.status == SweepStatus.RUNNING and _logged_nothing(sweep):
        sweep.say(SweepStatus.PAUSED, NO_OBJECTIVE, metric=sweep.objective)
        sweep.save(update_fields=STATUS_FIELDS)
    return counted


def _curve(sweep: Sweep, trial: Trial) -> dict:
    try:
        return pruning.curve_of(trial.job.mlflow_run_id, sweep.objective)
    except gateway.GatewayError as error:
        log.warning("sweep %s: trial %s's curve unreadable: %s", sweep.pk, trial.number, error)
        return {}


def _logged_nothing(sweep: Sweep) -> bool:
    """A trial's job succeeded without the objective, and no trial ever logged it."""
    trials = sweep.trials.exclude(state=TrialState.ACTIVE)
    return (
        not trials.filter(objective__isnull=False).exists()
        and trials.filter(state=TrialState.FAILED, job__status=JobStatus.SUCCEEDED).exists()
    )


def best_of(sweep: Sweep, trials: list[Trial]) -> Trial | None:
    """The best of trials already loaded (ties: the earlier trial)."""
    counted = [t for t in trials if t.state == TrialState.COMPLETE and t.objective is not None]
    sign = 1 if sweep.direction == "minimize" else -1
    return min(counted, key=lambda t: (sign * t.objective, t.number), default=None)


def best_trial(sweep: Sweep) -> Trial | None:
    order = "objective" if sweep.direction == "minimize" else "-objective"
    return (
        sweep.trials.filter(state=TrialState.COMPLETE, objective__isnull=False)
        .order_by(order, "number")
        .first()
    )


def _record_best(sweep: Sweep, trial: Trial) -> None:
    best = best_trial(sweep)
    if best is None or best.pk != trial.pk:
        return
    finished = sweep.trials.exclude(state=TrialState.ACTIVE).count()
    try:
        tracking.record_best(sweep, best.objective, best.number, finished)
    except gateway.GatewayError as error:
        log.warning("sweep %s: best result not written to its run: %s", sweep.pk, error)


def _counts(sweep: Sweep) -> dict:
    """In one query: the sweep's trials and the highest number among them, its active ones, those
    of them still queued, and those whose job has ended (to be counted by ``_collect``)."""
    active = Q(state=TrialState.ACTIVE)
    return sweep.trials.aggregate(
        trials=Count("pk"),
        last=Coalesce(Max("number"), 0),
        active=Count("pk", filter=active),
        queued=Count("pk", filter=active & Q(job__status=JobStatus.QUEUED)),
        ended=Count("pk", filter=active & Q(job__status__in=ENDED)),
    )


def _slot_free(sweep: Sweep, counts: dict) -> bool:
    return (
        counts["trials"] < sweep.max_trials and counts["active"] < sweep.max_parallel and not counts["queued"]
    )


def _start_trial(sweep: Sweep, counts: dict) -> bool:
    """Ask the sampler and submit the next trial; a refusal pauses the sweep with its reason.

    Runs inside ``advance``'s transaction: the trial's row commits with its job. A refusal
    leaves nothing behind: the request's check writes nothing, and ``submit_job`` undoes its own
    writes (its savepoint) before raising."""
    parameters, _problems = space.parse_space(sweep.space)
    history = []
    if sampler.reads_history(sweep.algorithm):  # the random sampler needs the count alone
        history = list(sweep.trials.values_list("params", "state", "objective"))
    number = counts["last"] + 1
    params = sampler.next_params(
        algorithm=sweep.algorithm,
        parameters=parameters,
        direction=sweep.direction,
        seed=sweep.seed,
        max_trials=sweep.max_trials,
        trials=history,
        earlier=counts["trials"],
    )
    try:
        request = definition.trial_request(sweep.created_by, sweep, number, params)
        job = job_actions.submit_job(sweep.created_by, sweep.project, request)
        # The dispatch creates the trial's run with its parent and parameters (trial_run_additions).
        Trial.objects.create(sweep=sweep, number=number, params=params, job=job)
    except ValidationError as error:
        why = " ".join(error.messages)[:400]
        sweep.say(
            SweepStatus.PAUSED, gettext_noop("paused: trial %(n)s was refused: %(why)s"), n=number, why=why
        )
        sweep.save(update_fields=STATUS_FIELDS)
        return False
    except ServiceUnavailable as error:
        log.warning("sweep %s: trial %s not started, later: %s", sweep.pk, number, error)
        return False
    return True


def _maybe_complete(sweep: Sweep, counts: dict) -> None:
    if sweep.status != SweepStatus.RUNNING:
        return
    if counts["trials"] < sweep.max_trials or counts["active"]:
        return
    sweep.say(SweepStatus.COMPLETED, gettext_noop("every trial ended"))
    sweep.finished_at = timezone.now()
    sweep.save(update_fields=[*STATUS_FIELDS, "finished_at"])
    try:
        tracking.end_parent_run(sweep, "FINISHED")
    except gateway.GatewayError as error:
        log.warning("sweep %s: its run not ended: %s", sweep.pk, error)


def advance_all() -> int:
    """Advance every running or paused sweep with trials (a lost message, a restarted portal)."""
    ids = list(
        Sweep.objects.filter(status__in=[SweepStatus.RUNNING, SweepStatus.PAUSED]).values_list(
            "pk", flat=True
        )
    )
    for sweep_id in ids:
        advance(sweep_id)
    return len(ids)
