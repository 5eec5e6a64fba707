"""The sweep's family of MLflow runs: a parent run (the search space, the best result so far) and
the trials' job runs made its children (``mlflow.parentRunId``, and the trial's parameters), so
that the stock MLflow client and the portal both see the family. Everything goes through the
gateway's REST session (``gateway.send``); nothing here imports mlflow."""

import json
import time

from django.utils.translation import gettext as _

from experiments import gateway
from portal.errors import ServiceUnavailable

SWEEP_TAG = "taller.sweep_id"
TRIAL_TAG = "taller.trial"
PARENT_TAG = "mlflow.parentRunId"


def _call(path: str, body: dict) -> dict:
    response = gateway.send("POST", f"api/2.0/mlflow/{path}", json=body)
    if response.status_code >= 400:
        code, message = gateway.error_of(response)
        raise gateway.GatewayError(gateway.client_message(code, message), status=response.status_code)
    return response.json() if response.content else {}


def unavailable(error: gateway.GatewayError) -> ServiceUnavailable:
    return ServiceUnavailable(
        _(
            "MLflow is unavailable, so the sweep's runs could not be written; nothing changed. Try again shortly. (%(error)s)"
        )
        % {"error": error}
    )


def _tags(tags: dict) -> list[dict]:
    return [{"key": key, "value": str(value)} for key, value in tags.items()]


def create_parent_run(sweep, user, parameters) -> tuple[str, str]:
    """The sweep's parent run in the spec's experiment: (experiment_id, run_id)."""
    project = sweep.project.slug
    experiment_id = gateway.ensure_experiment(project, sweep.spec.get("experiment") or "default")
    run = _call(
        "runs/create",
        {
            "experiment_id": experiment_id,
            "run_name": f"{sweep.name} (sweep {sweep.pk})",
            "start_time": int(time.time() * 1000),
            "tags": _tags({gateway.PROJECT_TAG: project, SWEEP_TAG: sweep.pk, "mlflow.user": user.username}),
        },
    )["run"]
    run_id = run["info"]["run_id"]
    params = {f"space.{p.name}": p.describe() for p in parameters} | {
        "algorithm": sweep.algorithm,
        "objective": f"{sweep.direction} {sweep.objective}",
        "max_trials": sweep.max_trials,
        "max_parallel": sweep.max_parallel,
    }
    _call(
        "runs/log-batch",
        {
            "run_id": run_id,
            "params": _tags(params),
            "tags": _tags({"taller.sweep.space": json.dumps(sweep.space, sort_keys=True)[:5000]}),
        },
    )
    return experiment_id, run_id


def trial_run_additions(job) -> tuple[dict, dict] | None:
    """What a trial's job run is created with (``clusterjobs.runs.add_to_runs``, when the dispatch
    creates it): the sweep's run as its parent, the trial's number, and the trial's parameters as
    the command received them (the script may log the same values again). None for other jobs."""
    from . import space
    from .models import Trial

    trial = Trial.objects.filter(job_id=job.pk).select_related("sweep").first()
    if trial is None:
        return None
    tags = {
        PARENT_TAG: trial.sweep.mlflow_run_id,
        SWEEP_TAG: str(trial.sweep_id),
        TRIAL_TAG: str(trial.number),
    }
    return tags, {name: space.text_of(value) for name, value in trial.params.items()}


def record_best(sweep, value: float, trial_number: int, finished: int) -> None:
    """The best objective so far on the parent run (a metric stepping with the finished trials)."""
    _call(
        "runs/log-batch",
        {
            "run_id": sweep.mlflow_run_id,
            "metrics": [
                {
                    "key": f"best_{sweep.objective}",
                    "value": value,
                    "timestamp": int(time.time() * 1000),
                    "step": finished,
                }
            ],
            "tags": _tags({"taller.best_trial": trial_number}),
        },
    )


def end_parent_run(sweep, status: str) -> None:
    """FINISHED when the sweep completed, KILLED when it was stopped."""
    _call(
        "runs/update",
        {"run_id": sweep.mlflow_run_id, "status": status, "end_time": int(time.time() * 1000)},
    )


def read_objective(project: str, run_id: str, metric: str) -> float | None:
    """The objective's last value on a trial's run, or None if the run never logged it."""
    value = gateway.get_run(project, run_id)["metrics"].get(metric)
    return None if value is None else float(value)
