"""Hand a deployment's new wish (a version, replicas, a stop) to the side that serves it.

On the embedded default the serving process (``manage.py serve_models``) reads the deployments
every second and needs no message; on Kubernetes a Celery task applies the manifests."""

from django.conf import settings


def send(deployment_id: int) -> None:
    if settings.TALLER_EXECUTOR == "kubernetes":
        from .tasks import apply_deployment

        apply_deployment.delay(deployment_id)
