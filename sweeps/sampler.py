"""The one module that imports Optuna: the next trial's parameters, asked of an in-memory study
rebuilt from the sweep's trials (the database keeps the search's whole memory, on PostgreSQL and
SQLite alike, so a restarted portal asks as if it had never stopped).

Finished trials are added with their objective (or as failed), running ones as running, so that
grid search never repeats a point and TPE (with a constant liar) spreads parallel trials. The
sampler's seed is the sweep's seed plus the trial's number: asking again for the same trial, after
a crash before its row was committed, gives the same parameters."""

import logging
import warnings

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState as OptunaState

from .space import Parameter

optuna.logging.set_verbosity(optuna.logging.WARNING)
log = logging.getLogger(__name__)

# Trial states of our own as Optuna knows them.
STATES = {
    "active": OptunaState.RUNNING,
    "complete": OptunaState.COMPLETE,
    "failed": OptunaState.FAIL,
    "pruned": OptunaState.PRUNED,
    "cancelled": OptunaState.FAIL,
}


def distribution(parameter: Parameter):
    if parameter.kind == "categorical":
        return CategoricalDistribution(list(parameter.choices))
    if parameter.kind == "int":
        return IntDistribution(int(parameter.low), int(parameter.high), step=int(parameter.step or 1))
    if parameter.kind == "log_uniform":
        return FloatDistribution(parameter.low, parameter.high, log=True)
    return FloatDistribution(parameter.low, parameter.high, step=parameter.step)


def _sampler(algorithm: str, seed: int, max_trials: int):
    if algorithm == "grid":
        # Every point of the grid once, in a random order: the brute-force sampler reads the points
        # taken from the trials' parameters, running ones included (GridSampler reads its own
        # marks, which a rebuilt study does not have).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.BruteForceSampler(seed=seed)
    if algorithm == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    # Random trials first (a quarter of the sweep, 2 to 10), then the model.
    startup = min(10, max(2, max_trials // 4))
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup, constant_liar=True)


def reads_history(algorithm: str) -> bool:
    """Whether the algorithm's sampler reads the earlier trials (the random sampler does not: its
    seed, with the number of earlier trials, is all it needs), so a caller may skip loading them."""
    return algorithm != "random"


def next_params(
    *,
    algorithm: str,
    parameters: list[Parameter],
    direction: str,
    seed: int,
    max_trials: int,
    trials: list[tuple[dict, str, float | None]],
    earlier: int | None = None,
) -> dict:
    """The parameters of the next trial, given the earlier ones as (params, state, objective).
    ``earlier`` is how many trials the sweep already has (by default ``len(trials)``): a caller
    whose algorithm reads no history passes the count alone, with no trials."""
    distributions = {p.name: distribution(p) for p in parameters}
    earlier = len(trials) if earlier is None else earlier
    study = optuna.create_study(direction=direction, sampler=_sampler(algorithm, seed + earlier, max_trials))
    if not reads_history(algorithm):
        trials = []  # the random sampler reads no history: its seed (with the number) is enough
    for params, state, objective in trials:
        optuna_state = STATES[state]
        if optuna_state == OptunaState.COMPLETE and objective is None:
            optuna_state = OptunaState.FAIL
        try:
            known = {name: value for name, value in params.items() if name in distributions}
            study.add_trial(
                optuna.trial.create_trial(
                    params=known,
                    distributions={name: distributions[name] for name in known},
                    value=objective if optuna_state == OptunaState.COMPLETE else None,
                    state=optuna_state,
                )
            )
        except ValueError as error:  # a value outside today's space (the space is fixed, but be safe)
            log.warning("trial %s left out of the study: %s", params, error)
    trial = study.ask(distributions)
    return dict(trial.params)


# Early stopping: the median rule, once this many trials have finished with a curve.
PRUNE_AFTER_TRIALS = 3


def should_prune(*, direction: str, finished: list[tuple[dict, float]], curve: dict) -> bool:
    """Whether a running trial whose objective so far is ``curve`` ({step: value}) is worse, at its
    last step, than the median of the finished trials' curves at that step (Optuna's median
    pruner). ``finished`` holds (curve, objective) of completed trials."""
    if not curve or len(finished) < PRUNE_AFTER_TRIALS:
        return False
    pruner = optuna.pruners.MedianPruner(n_startup_trials=PRUNE_AFTER_TRIALS, n_warmup_steps=0)
    study = optuna.create_study(direction=direction, pruner=pruner)
    for values, objective in finished:
        study.add_trial(
            optuna.trial.create_trial(
                value=objective, intermediate_values={int(s): float(v) for s, v in values.items()}
            )
        )
    study.add_trial(
        optuna.trial.create_trial(
            state=OptunaState.RUNNING, intermediate_values={int(s): float(v) for s, v in curve.items()}
        )
    )
    return pruner.prune(study, study.trials[-1])
