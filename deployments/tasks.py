"""Celery tasks of deployments on Kubernetes: thin wrappers over ``cluster``, taking ids. The one
the verbs send is handed to queue.py at the end of this module."""

from celery import shared_task
from django.conf import settings

from portal.retry import WritingTask

from . import actions, cluster, queue, samples


@shared_task(base=WritingTask)
def sync_deployment(deployment_id: int) -> str:
    """After a verb: the cluster brought in line with the deployment at once."""
    return cluster.bring_in_line(deployment_id)


@shared_task(base=WritingTask)
def sync_deployments() -> int:
    """Periodic: deployments that follow an alias moved to where it points (on the embedded
    default serve_models does it), rollouts followed to their end, and what a lost message left
    undone."""
    if settings.TALLER_EXECUTOR == "kubernetes":
        actions.follow_aliases()
    return len(cluster.sync_all())


@shared_task(base=WritingTask)
def purge_samples() -> int:
    """Periodic: sampled calls older than their deployment's retention deleted, in batches."""
    return samples.purge()


queue.install(sync_deployment=sync_deployment)
