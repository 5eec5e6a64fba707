"""What live deployments use over time, for the period's usage figures (GPU-, CPU- and
memory-hours, as jobs count them): one ``DeploymentUse`` row per stretch of time a deployment
held the same replicas × resources, kept in line by ``models.record_use`` after every write.
"""

from .models import DeploymentUse


def uses_of(project_ids):
    """The stretches of these projects' deployments (None: of all), shaped as jobs are for the
    usage sums (``started_at``, ``finished_at``, ``gpus``, ``cpu``, ``memory_mib``,
    ``submitter``): handed to portal.quotas as a source of usage."""
    uses = DeploymentUse.objects.all()
    return uses if project_ids is None else uses.filter(project_id__in=project_ids)
