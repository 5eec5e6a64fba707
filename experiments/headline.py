"""The headline metric of many jobs' runs, for the dashboard and a project page: one bounded
query to MLflow (runs/search) for the whole page (``MLFLOW_TIMEOUT_SECONDS``), whatever the number of jobs, and
nothing at all when MLflow does not answer: the page shows the jobs without their metrics."""

import logging

from . import gateway

log = logging.getLogger(__name__)

# A run may name its headline metric with this tag; otherwise the first of these that it logged,
# then any accuracy, then any loss, then its first metric by name.
HEADLINE_TAG = "taller.headline"
PREFERRED = ("test_accuracy", "val_accuracy", "accuracy", "acc", "f1", "auc", "r2", "val_loss", "loss")


def pick(metrics: dict[str, float | None], tags: dict[str, str]) -> tuple[str, float | None] | None:
    """The (name, value) a person most likely looks for first, or None for a run without metrics."""
    if not metrics:
        return None
    named = tags.get(HEADLINE_TAG, "")
    if named in metrics:
        return named, metrics[named]
    for name in PREFERRED:
        if name in metrics:
            return name, metrics[name]
    for word in ("acc", "loss"):
        for name in metrics:
            if word in name:
                return name, metrics[name]
    name = next(iter(metrics))
    return name, metrics[name]


def headline_metrics(jobs) -> dict[str, tuple[str, float | None]]:
    """``{run_id: (metric, value)}`` of the jobs' MLflow runs, in one call to MLflow (the jobs store
    their run's and experiment's ids, so no lookup comes first). The caller has checked that the
    jobs are the user's to see."""
    runs = {job.mlflow_run_id: job.mlflow_experiment_id for job in jobs if job.mlflow_run_id}
    runs = {run_id: experiment for run_id, experiment in runs.items() if experiment}
    if not runs:
        return {}
    ids = sorted(runs)
    try:
        found = gateway.search_runs(
            sorted(set(runs.values())),
            filter_string=f"attributes.run_id IN ({', '.join(gateway.filter_literal(r) for r in ids)})",
            max_results=len(ids),
        )["runs"]
    except gateway.GatewayError as error:
        log.info("headline metrics left out: %s", error)
        return {}
    headlines = {}
    for run in found:
        if run["run_id"] in runs and (headline := pick(run["metrics"], run["tags"])) is not None:
            headlines[run["run_id"]] = headline
    return headlines
