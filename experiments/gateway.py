"""The one module that talks to MLflow. It knows which experiments belong to which project and
returns plain data; every MLflow failure leaves it as a GatewayError.

Projects are scoped by MLflow's own naming and tags: a project's experiments are named
``<slug>/<name>`` and tagged ``taller.project=<slug>``. (MLflow workspaces are still
experimental in the 3.x line; names and tags work with every tracking store.)
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

PROJECT_TAG = "taller.project"
JOB_TAG = "taller.job_id"


class GatewayError(Exception):
    """MLflow refused or failed. ``status`` is the HTTP status to answer with (404, 400, 502)."""

    def __init__(self, message: str, *, status: int = 502, retryable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


def _client() -> MlflowClient:
    # One bounded call: no page waits on MLflow for more than the configured timeout.
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(settings.MLFLOW_TIMEOUT_SECONDS)
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    return MlflowClient(tracking_uri=settings.MLFLOW_TRACKING_URI)


def _error(error: MlflowException) -> GatewayError:
    code = getattr(error, "error_code", "")
    if code in {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"}:
        return GatewayError(str(error.message), status=404)
    if code in {"INVALID_PARAMETER_VALUE", "BAD_REQUEST", "INVALID_STATE"}:
        return GatewayError(str(error.message), status=400)
    return GatewayError(f"MLflow is unavailable: {error.message}", status=502, retryable=True)


@contextmanager
def _calling() -> Iterator[None]:
    """Turn MLflow's and the network's errors into GatewayErrors."""
    try:
        yield
    except MlflowException as error:
        raise _error(error) from error
    except OSError as error:
        raise GatewayError(f"MLflow is unreachable: {error}", retryable=True) from error


def experiment_name(project: str, name: str) -> str:
    return f"{project}/{name}"


def ensure_experiment(project: str, name: str = "default") -> str:
    """The id of the project's experiment ``name``, created (and tagged) the first time."""
    client = _client()
    full_name = experiment_name(project, name)
    with _calling():
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


def create_job_run(project: str, experiment: str, job_id: int, run_name: str, user: str) -> tuple[str, str]:
    """Create the MLflow run a job logs into; returns (experiment_id, run_id)."""
    experiment_id = ensure_experiment(project, experiment)
    with _calling():
        run = _client().create_run(
            experiment_id,
            run_name=run_name,
            tags={PROJECT_TAG: project, JOB_TAG: str(job_id), "mlflow.user": user},
        )
    return experiment_id, run.info.run_id


def finish_run(run_id: str, status: str) -> None:
    """End a job's run: status is FINISHED, FAILED or KILLED."""
    with _calling():
        _client().set_terminated(run_id, status=status)


def set_run_tags(run_id: str, tags: dict[str, str]) -> None:
    client = _client()
    with _calling():
        for key, value in tags.items():
            client.set_tag(run_id, key, value)


def log_text_artifact(run_id: str, text: str, artifact_file: str) -> None:
    """Attach text (a job's final log) to a run as an artifact."""
    with _calling():
        _client().log_text(run_id, text, artifact_file)
