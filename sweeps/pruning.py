"""Early stopping: a running trial whose objective, logged per step, is worse than the median of
the finished trials at the same step (``sampler.should_prune``, Optuna's median pruner) is marked
and its job cancelled, which frees its share of the quota; when the job has ended the trial is
counted as ``pruned``. Finished trials keep their curve on their row, so each check costs MLflow
one call (the running trials' histories, in bulk)."""

import logging

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_noop

from clusterjobs import actions as job_actions
from clusterjobs.models import JobStatus
from experiments import gateway
from portal.errors import ServiceUnavailable

from . import sampler
from .models import Sweep, Trial, TrialState

log = logging.getLogger(__name__)

PRUNED = gettext_noop("stopped early: worse than the median of earlier trials")


def curve_of(run_id: str, metric: str) -> dict:
    """The objective per step of one run ({step: value})."""
    points = gateway.metric_histories([run_id], metric).get(run_id, [])
    return {str(p["step"]): p["value"] for p in points if p["value"] is not None}


def to_prune(sweep: Sweep) -> list[Trial]:
    """The running trials to stop now, marked (under the sweep's lock, by ``runner.advance``)."""
    if not sweep.prune:
        return []
    running = list(
        sweep.trials.filter(state=TrialState.ACTIVE, job__status=JobStatus.RUNNING, note="").select_related(
            "job"
        )
    )
    finished = [
        (t.curve, t.objective)
        for t in sweep.trials.filter(state=TrialState.COMPLETE, objective__isnull=False).exclude(curve={})
    ]
    if not running or len(finished) < sampler.PRUNE_AFTER_TRIALS:
        return []
    try:
        histories = gateway.metric_histories([t.job.mlflow_run_id for t in running], sweep.objective)
    except gateway.GatewayError as error:
        log.warning("sweep %s: curves unreadable, no pruning this time: %s", sweep.pk, error)
        return []
    marked = []
    for trial in running:
        curve = {
            str(p["step"]): p["value"]
            for p in histories.get(trial.job.mlflow_run_id, [])
            if p["value"] is not None
        }
        if sampler.should_prune(direction=sweep.direction, finished=finished, curve=curve):
            trial.note, trial.curve = PRUNED, curve
            trial.save(update_fields=["note", "curve"])
            marked.append(trial)
    return marked


def stop(sweep: Sweep, trials: list[Trial]) -> None:
    """Cancel the marked trials' jobs (after the sweep's lock is released)."""
    for trial in trials:
        try:
            job_actions.cancel_job(sweep.created_by, trial.job)
        except (ValidationError, ServiceUnavailable) as error:
            log.warning("sweep %s: trial %s not stopped: %s", sweep.pk, trial.number, error)
