"""The one package that talks to MLflow. It knows which experiments belong to which project and
returns plain data; every MLflow failure leaves it as a GatewayError.

Projects are scoped by MLflow's own naming and tags: a project's experiments are named
``<slug>/<name>`` and tagged ``taller.project=<slug>``. (MLflow workspaces are still
experimental in the 3.x line; names and tags work with every tracking store.)

- ``core``: errors, MLflow's client bounded once (``configure``), and MLflow's REST API over
  keep-alive sessions the threads share (``send``, ``base_url``): the one place that makes HTTP
  calls to MLflow;
- ``runs``: a job's run, and a project's experiments, runs and metrics;
- ``artifacts``: a run's artifacts, streamed;
- ``registry``: registered models, versions, aliases and tags; logged models;
- ``datasets``: a run's dataset inputs (a job's DVC data).

Callers use ``from experiments import gateway`` and the names below.
"""

from .artifacts import Artifact, clean_artifact_path, list_artifacts, open_artifact
from .core import (
    JOB_TAG,
    PROJECT_TAG,
    SCOPE_CACHE_SECONDS,
    GatewayError,
    base_url,
    client_message,
    configure,
    error_of,
    filter_literal,
    looks_like_id,
    project_filter,
    request_messages,
    send,
    unreachable,
)
from .datasets import log_dataset_inputs
from .registry import (
    MODEL_SEPARATOR,
    delete_alias,
    delete_model_tag,
    delete_version_tag,
    experiment_name_project,
    get_model,
    get_version,
    list_models,
    list_versions,
    logged_model_project,
    model_name,
    model_project,
    register_version,
    run_logged_models,
    set_alias,
    set_model_tag,
    set_version_tag,
)
from .runs import (
    EXPERIMENT_CACHE_SECONDS,
    check_run,
    check_runs,
    create_parent_run,
    ensure_experiment,
    experiment_name,
    experiment_project,
    find_job_run,
    finish_run,
    get_experiment,
    get_run,
    get_runs,
    list_experiments,
    log_params,
    log_text_artifact,
    metric_histories,
    metric_history,
    owner_of,
    project_experiment_ids,
    run_project,
    run_projects,
    search_runs,
    set_run_tags,
    start_job_run,
)

__all__ = [
    "EXPERIMENT_CACHE_SECONDS",
    "JOB_TAG",
    "MODEL_SEPARATOR",
    "PROJECT_TAG",
    "SCOPE_CACHE_SECONDS",
    "Artifact",
    "GatewayError",
    "base_url",
    "check_run",
    "check_runs",
    "clean_artifact_path",
    "client_message",
    "configure",
    "create_parent_run",
    "delete_alias",
    "delete_model_tag",
    "delete_version_tag",
    "ensure_experiment",
    "error_of",
    "experiment_name",
    "experiment_name_project",
    "experiment_project",
    "filter_literal",
    "find_job_run",
    "finish_run",
    "get_experiment",
    "get_model",
    "get_run",
    "get_runs",
    "get_version",
    "list_artifacts",
    "list_experiments",
    "log_dataset_inputs",
    "log_params",
    "list_models",
    "list_versions",
    "open_artifact",
    "log_text_artifact",
    "logged_model_project",
    "looks_like_id",
    "metric_histories",
    "metric_history",
    "model_name",
    "model_project",
    "owner_of",
    "project_experiment_ids",
    "project_filter",
    "register_version",
    "request_messages",
    "run_logged_models",
    "run_project",
    "run_projects",
    "search_runs",
    "send",
    "set_alias",
    "set_model_tag",
    "set_run_tags",
    "set_version_tag",
    "start_job_run",
    "unreachable",
]
