"""A job's MLflow run, and browsing a project's experiments, runs and metrics. Everything here
returns plain dicts and raises GatewayError; nothing loads more than a page."""

from django.core.cache import cache
from django.utils.translation import gettext as _
from mlflow.exceptions import MlflowException

from .core import (
    JOB_TAG,
    PROJECT_TAG,
    SCOPE_CACHE_SECONDS,
    GatewayError,
    all_of,
    cache_key,
    calling,
    filter_literal,
    looks_like_id,
    mlflow_client,
    project_filter,
    request_json,
)


def experiment_name(project: str, name: str) -> str:
    return f"{project}/{name}"


def ensure_experiment(project: str, name: str = "default") -> str:
    """The id of the project's experiment ``name``, created (and tagged) the first time."""
    client = mlflow_client()
    full_name = experiment_name(project, name)
    with calling():
        experiment = client.get_experiment_by_name(full_name)
        if experiment is not None:
            if experiment.tags.get(PROJECT_TAG) != project:
                raise GatewayError(
                    f"experiment {full_name!r} does not belong to project {project!r}", status=409
                )
            return experiment.experiment_id
        try:
            return client.create_experiment(full_name, tags={PROJECT_TAG: project})
        except MlflowException as error:
            if getattr(error, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
                raise
        # Created concurrently by another worker: use theirs.
        return client.get_experiment_by_name(full_name).experiment_id


def start_job_run(
    project: str,
    experiment_id: str,
    job_id: int,
    run_name: str,
    user: str,
    *,
    start_time_ms: int,
    tags: dict[str, str] | None = None,
) -> str:
    """Create the MLflow run a job logs into, started at ``start_time_ms`` (when the job goes to
    its backend, not when it was submitted), in one call; returns its id."""
    with calling():
        run = mlflow_client().create_run(
            experiment_id,
            start_time=start_time_ms,
            run_name=run_name,
            tags={**(tags or {}), PROJECT_TAG: project, JOB_TAG: str(job_id), "mlflow.user": user},
        )
    return run.info.run_id


def log_params(run_id: str, params: dict[str, str]) -> None:
    """Log ``params`` on a run in one call (a sweep's trial: the values its command received)."""
    from mlflow.entities import Param

    with calling():
        mlflow_client().log_batch(run_id, params=[Param(key, str(value)) for key, value in params.items()])


def find_job_run(experiment_id: str, job_id: int) -> str:
    """The id of a run already created for the job (by a dispatch attempt that died before
    recording it), or ''."""
    found = search_runs([experiment_id], filter_string=f"tags.`{JOB_TAG}` = {filter_literal(str(job_id))}")
    return found["runs"][0]["run_id"] if found["runs"] else ""


def create_parent_run(
    project: str, experiment: str, run_name: str, user: str, tags: dict[str, str]
) -> tuple[str, str]:
    """Create a run that groups others (a pipeline's, whose steps' runs name it in
    ``mlflow.parentRunId``); returns (experiment_id, run_id)."""
    experiment_id = ensure_experiment(project, experiment)
    with calling():
        run = mlflow_client().create_run(
            experiment_id, run_name=run_name, tags={**tags, PROJECT_TAG: project, "mlflow.user": user}
        )
    return experiment_id, run.info.run_id


def finish_run(run_id: str, status: str) -> None:
    """End a job's run: status is FINISHED, FAILED or KILLED."""
    with calling():
        mlflow_client().set_terminated(run_id, status=status)


def set_run_tags(run_id: str, tags: dict[str, str]) -> None:
    client = mlflow_client()
    with calling():
        for key, value in tags.items():
            client.set_tag(run_id, key, value)


def log_text_artifact(run_id: str, text: str, artifact_file: str) -> None:
    """Attach text (a job's final log) to a run as an artifact."""
    with calling():
        mlflow_client().log_text(run_id, text, artifact_file)


def _experiment(experiment) -> dict:
    return {
        "experiment_id": experiment.experiment_id,
        "name": experiment.name,
        "short_name": experiment.name.split("/", 1)[-1],
        "project": experiment.tags.get(PROJECT_TAG, ""),
        "artifact_location": experiment.artifact_location,
        "lifecycle_stage": experiment.lifecycle_stage,
        "tags": {k: v for k, v in experiment.tags.items() if not k.startswith("mlflow.")},
        "creation_time": experiment.creation_time,
        "last_update_time": experiment.last_update_time,
    }


def list_experiments(project: str, *, max_results: int = 50, page_token: str | None = None) -> dict:
    """One page of the project's experiments: {"experiments": [...], "next_page_token": str|None}."""
    name_filter = f"name LIKE {filter_literal(project + '/%')}"
    with calling():
        page = mlflow_client().search_experiments(
            max_results=max_results,
            filter_string=all_of(project_filter(project), name_filter),
            order_by=["name ASC"],
            page_token=page_token or None,
        )
    return {"experiments": [_experiment(e) for e in page], "next_page_token": page.token or None}


PROJECT_EXPERIMENTS = 100  # experiments one search over a whole project reaches


def project_experiment_ids(project: str) -> list[str]:
    """The ids of the project's (first PROJECT_EXPERIMENTS) experiments, for a search across them;
    cached for EXPERIMENT_CACHE_SECONDS, so that such a search costs MLflow one call."""
    key = cache_key("project-experiments", project)
    ids = cache.get(key)
    if ids is None:
        ids = [
            e["experiment_id"]
            for e in list_experiments(project, max_results=PROJECT_EXPERIMENTS)["experiments"]
        ]
        cache.set(key, ids, EXPERIMENT_CACHE_SECONDS)
    return ids


def experiment_project(experiment_id: str) -> str:
    """The project an experiment belongs to ('' for none). Cached: the project tag never moves."""
    key = cache_key("exp", experiment_id)
    project = cache.get(key)
    if project is None:
        with calling():
            experiment = mlflow_client().get_experiment(str(experiment_id))
        project = owner_of(experiment.name, experiment.tags.get(PROJECT_TAG, ""))
        cache.set(key, project, SCOPE_CACHE_SECONDS)
    return project


def owner_of(name: str, tag: str) -> str:
    """An experiment belongs to a project only when its tag and its name prefix agree."""
    return tag if tag and name.startswith(f"{tag}/") else ""


EXPERIMENT_CACHE_SECONDS = 60


def get_experiment(project: str, experiment_id: str) -> dict:
    """One experiment of the project; 404 for an experiment of another project.

    Cached for a minute, so that a page of runs costs MLflow one call (the search), not two.
    """
    key = cache_key("experiment", experiment_id)
    data = cache.get(key)
    if data is None:
        with calling():
            experiment = mlflow_client().get_experiment(str(experiment_id))
        data = _experiment(experiment)
        data["owner"] = owner_of(experiment.name, data["project"])
        cache.set(key, data, EXPERIMENT_CACHE_SECONDS)
        cache.set(cache_key("exp", experiment_id), data["owner"], SCOPE_CACHE_SECONDS)
    if data["owner"] != project:
        raise GatewayError(_("No experiment %(id)s in this project.") % {"id": experiment_id}, status=404)
    return data


def _run(run) -> dict:
    info, data = run.info, run.data
    tags = dict(data.tags)
    return {
        "run_id": info.run_id,
        "run_name": info.run_name or tags.get("mlflow.runName", ""),
        "experiment_id": info.experiment_id,
        "status": info.status,
        "start_time": info.start_time,
        "end_time": info.end_time,
        "user": info.user_id or tags.get("mlflow.user", ""),
        "artifact_uri": info.artifact_uri,
        "lifecycle_stage": info.lifecycle_stage,
        "params": dict(sorted(data.params.items())),
        "metrics": dict(sorted(data.metrics.items())),
        "tags": dict(sorted(tags.items())),
        "job_id": tags.get(JOB_TAG, ""),
        "datasets": [
            _dataset_input(i.dataset, i.tags) for i in (run.inputs.dataset_inputs if run.inputs else [])
        ],
    }


def _dataset_input(dataset, tags) -> dict:
    """A run's dataset input (``mlflow.log_input``) as plain data: its name, digest, where it comes
    from and the context it was used in (training, evaluation)."""
    get = dataset.get if isinstance(dataset, dict) else lambda key, default="": getattr(dataset, key, default)
    pairs = [(t["key"], t.get("value", "")) if isinstance(t, dict) else (t.key, t.value) for t in tags or []]
    return {
        "name": get("name", "") or "",
        "digest": get("digest", "") or "",
        "source_type": get("source_type", "") or "",
        "source": get("source", "") or "",
        "context": dict(pairs).get("mlflow.data.context", ""),
    }


def search_runs(
    experiment_ids: list[str],
    *,
    filter_string: str = "",
    order_by: list[str] | None = None,
    max_results: int = 50,
    page_token: str | None = None,
) -> dict:
    """One page of runs (server-side paging). The caller has checked the experiments' project.

    A malformed filter or order_by is a 400 with MLflow's own message.
    """
    # The REST call itself, not MlflowClient: the page needs JSON, and skipping the protobuf
    # round trip keeps the portal's overhead over MLflow's own search small (see bench/).
    body = {
        "experiment_ids": [str(e) for e in experiment_ids],
        "filter": filter_string or "",
        "max_results": max_results,
        "order_by": [o for o in (order_by or []) if o],
        "run_view_type": "ACTIVE_ONLY",
    }
    if page_token:
        body["page_token"] = page_token
    answer = request_json("POST", "api/2.0/mlflow/runs/search", json=body)
    return {
        "runs": [_run_json(r) for r in answer.get("runs", [])],
        "next_page_token": answer.get("next_page_token") or None,
    }


def _run_json(run: dict) -> dict:
    """A run of MLflow's REST answer as the same plain dict as ``_run``."""
    info, data = run.get("info", {}), run.get("data", {})
    tags = {t["key"]: t.get("value", "") for t in data.get("tags", [])}
    return {
        "run_id": info.get("run_id") or info.get("run_uuid", ""),
        "run_name": info.get("run_name") or tags.get("mlflow.runName", ""),
        "experiment_id": info.get("experiment_id", ""),
        "status": info.get("status", ""),
        "start_time": _int(info.get("start_time")),
        "end_time": _int(info.get("end_time")),
        "user": info.get("user_id") or tags.get("mlflow.user", ""),
        "artifact_uri": info.get("artifact_uri", ""),
        "lifecycle_stage": info.get("lifecycle_stage", ""),
        "params": dict(sorted((p["key"], p.get("value", "")) for p in data.get("params", []))),
        "metrics": dict(sorted((m["key"], _float(m.get("value"))) for m in data.get("metrics", []))),
        "tags": dict(sorted(tags.items())),
        "job_id": tags.get(JOB_TAG, ""),
        "datasets": [
            _dataset_input(i.get("dataset", {}), i.get("tags", []))
            for i in run.get("inputs", {}).get("dataset_inputs", [])
        ],
    }


def _int(value) -> int | None:
    return int(value) if value not in (None, "") else None


def _float(value) -> float | None:
    if value in (None, ""):
        return None
    return float(value)  # also 'NaN' and 'Infinity', as MLflow writes them


def run_project(run_id: str) -> tuple[str, str]:
    """(project, experiment_id) of a run, cached: a run never changes experiment, an experiment
    never changes project. One cache lookup when the run was seen before (the proxy's case)."""
    return run_projects([run_id])[run_id]


def run_projects(run_ids: list[str]) -> dict[str, tuple[str, str]]:
    """{run_id: (project, experiment_id)} of several runs: one cache lookup for all that were
    seen before; each one not seen is looked up in MLflow (and its experiment's project)."""
    keys = {run_id: cache_key("run-owner", run_id) for run_id in run_ids}
    found = cache.get_many(list(keys.values())) if keys else {}
    owners: dict[str, tuple[str, str]] = {}
    for run_id, key in keys.items():
        owner = found.get(key)
        if owner is None:
            experiment_id = cache.get(cache_key("run", run_id))
            if experiment_id is None:
                with calling():
                    experiment_id = mlflow_client().get_run(run_id).info.experiment_id
                cache.set(cache_key("run", run_id), experiment_id, SCOPE_CACHE_SECONDS)
            owner = (experiment_project(experiment_id), experiment_id)
            cache.set(key, owner, SCOPE_CACHE_SECONDS)
        owners[run_id] = tuple(owner)
    return owners


def get_run(project: str, run_id: str) -> dict:
    """A run with its params, latest metrics and tags; 404 unless its experiment is the project's."""
    if not looks_like_id(run_id):
        raise GatewayError(_("Run '%(id)s' not found.") % {"id": run_id}, status=404)
    with calling():
        run = mlflow_client().get_run(run_id)
    if experiment_project(run.info.experiment_id) != project:
        raise GatewayError(_("Run '%(id)s' not found.") % {"id": run_id}, status=404)
    cache.set(cache_key("run", run_id), run.info.experiment_id, SCOPE_CACHE_SECONDS)
    return _run(run)


def check_run(project: str, run_id: str) -> str:
    """The experiment id of a run of the project; 404 otherwise. Usually answered from the cache."""
    return check_runs(project, [run_id])[run_id]


def check_runs(project: str, run_ids: list[str]) -> dict[str, str]:
    """{run_id: experiment id} of runs that are all the project's; 404 otherwise (the first run
    that is not). Runs seen before cost one cache lookup together."""
    for run_id in run_ids:
        if not looks_like_id(run_id):
            raise GatewayError(_("Run '%(id)s' not found.") % {"id": run_id}, status=404)
    owners = run_projects(run_ids)
    for run_id in run_ids:
        if owners[run_id][0] != project:
            raise GatewayError(_("Run '%(id)s' not found.") % {"id": run_id}, status=404)
    return {run_id: owners[run_id][1] for run_id in run_ids}


def get_runs(project: str, run_ids: list[str]) -> list[dict]:
    """Several runs of the project in one search call, in the order asked."""
    experiment_ids = sorted(set(check_runs(project, run_ids).values()))
    if not experiment_ids:
        return []
    found = search_runs(
        experiment_ids,
        filter_string=f"attributes.run_id IN ({', '.join(filter_literal(r) for r in run_ids)})",
        max_results=len(run_ids),
    )["runs"]
    by_id = {run["run_id"]: run for run in found}
    return [by_id[run_id] for run_id in run_ids if run_id in by_id]


def metric_history(run_id: str, key: str) -> list[dict]:
    """Every point of one metric of one run (the caller has checked the run's project)."""
    with calling():
        points = mlflow_client().get_metric_history(run_id, key)
    return [{"step": p.step, "value": p.value, "timestamp": p.timestamp} for p in points]


def metric_histories(run_ids: list[str], key: str, *, max_points: int = 500) -> dict[str, list[dict]]:
    """One metric's history for up to 100 runs in one call, sampled by MLflow to max_points a run."""
    params = [("run_ids", r) for r in run_ids] + [("metric_key", key), ("max_results", str(max_points))]
    body = request_json("GET", "ajax-api/2.0/mlflow/metrics/get-history-bulk-interval", params=params)
    histories: dict[str, list[dict]] = {run_id: [] for run_id in run_ids}
    for point in body.get("metrics", []):
        histories.setdefault(point.get("run_id", ""), []).append(
            {
                "step": int(point.get("step", 0)),
                "value": point.get("value"),
                "timestamp": point.get("timestamp"),
            }
        )
    return histories
