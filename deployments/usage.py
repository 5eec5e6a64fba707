"""What live deployments use over time, for the period's usage figures (GPU-, CPU- and
memory-hours, as jobs count them): one ``DeploymentUse`` row per stretch of time a deployment
held the same replicas × resources.

``record_use`` brings a deployment's open stretch in line with the row as it is now: it closes it
when the deployment stopped holding, or holds something else, and opens one when it holds. It is
idempotent, so calling it after any write (``Deployment.save`` and ``DeploymentQuerySet.update``
do) keeps the record exact whichever code path moved the deployment.
"""

from django.db import transaction
from django.utils import timezone

from .models import LIVE, Deployment, DeploymentUse


def record_use(deployment_ids, now=None) -> None:
    now = now or timezone.now()
    with transaction.atomic():
        rows = (
            Deployment.objects.select_for_update()
            .filter(pk__in=list(deployment_ids))
            .values("pk", "project_id", "created_by_id", "status", "replicas", "cpu", "memory_mib", "gpus")
        )
        current = {row["pk"]: row for row in rows}
        open_uses = {
            use.deployment_id: use
            for use in DeploymentUse.objects.filter(deployment_id__in=current, finished_at__isnull=True)
        }
        for pk, row in current.items():
            held = None
            if row["status"] in LIVE:
                replicas = row["replicas"]
                held = (replicas * row["gpus"], replicas * row["cpu"], replicas * row["memory_mib"])
            use = open_uses.get(pk)
            if use is not None and (use.gpus, use.cpu, use.memory_mib) != held:
                DeploymentUse.objects.filter(pk=use.pk).update(finished_at=max(now, use.started_at))
                use = None
            if use is None and held is not None:
                DeploymentUse.objects.create(
                    deployment_id=pk,
                    project_id=row["project_id"],
                    submitter_id=row["created_by_id"],
                    started_at=now,
                    gpus=held[0],
                    cpu=held[1],
                    memory_mib=held[2],
                )


def uses_of(project_ids):
    """The stretches of these projects' deployments (None: of all), shaped as jobs are for the
    usage sums (``started_at``, ``finished_at``, ``gpus``, ``cpu``, ``memory_mib``,
    ``submitter``): handed to portal.quotas as a source of usage."""
    uses = DeploymentUse.objects.all()
    return uses if project_ids is None else uses.filter(project_id__in=project_ids)
