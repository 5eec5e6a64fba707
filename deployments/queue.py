"""What the deployment verbs hand to the workers. ``tasks.py`` runs ``actions.follow_aliases``
periodically, and the verbs send a task, so ``actions.py`` does not import ``tasks.py``: that
module installs its task here when it is imported (``DeploymentsConfig.ready``, in every process).
A lost message is repaired by the periodic ``sync_deployments``."""

from celery import Task

_tasks: dict[str, Task] = {}


def install(*, sync_deployment: Task) -> None:
    _tasks["sync_deployment"] = sync_deployment


def send_sync(deployment_id: int) -> None:
    """Ask a worker to bring the cluster in line with the deployment at once."""
    if "sync_deployment" not in _tasks:
        raise RuntimeError("deployments.tasks is not imported: its task is not installed")
    _tasks["sync_deployment"].delay(deployment_id)
