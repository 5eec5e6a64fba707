"""The deployments live when usage began to be recorded count from then on: each gets its open
stretch of use, as ``deployments.models.record_use`` would open it."""

from django.db import migrations
from django.utils import timezone

LIVE = ("starting", "running", "updating")


def open_uses(apps, schema_editor):
    Deployment = apps.get_model("deployments", "Deployment")
    DeploymentUse = apps.get_model("deployments", "DeploymentUse")
    now = timezone.now()
    DeploymentUse.objects.bulk_create(
        DeploymentUse(
            deployment_id=d.pk,
            project_id=d.project_id,
            submitter_id=d.created_by_id,
            started_at=now,
            gpus=d.replicas * d.gpus,
            cpu=d.replicas * d.cpu,
            memory_mib=d.replicas * d.memory_mib,
        )
        for d in Deployment.objects.filter(status__in=LIVE)
    )


def remove_uses(apps, schema_editor):
    apps.get_model("deployments", "DeploymentUse").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("deployments", "0003_deployment_use_over_time")]

    operations = [migrations.RunPython(open_uses, remove_uses)]
