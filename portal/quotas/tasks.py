"""Celery tasks of the quotas app: mirror each project's quota on the execution backend."""

from celery import shared_task
from django.conf import settings

from clusterjobs.backends import BackendError, get_backend
from portal.projects.models import Project
from portal.retry import WritingTask

from .admission import project_limits


@shared_task(bind=True, base=WritingTask, acks_late=True, max_retries=8)
def mirror_quota(self, project_id: int) -> str:
    """Make the backend's limits of the project (a namespace's ResourceQuota and LimitRange on
    Kubernetes) match the portal's quota. Idempotent: it reads the quota when it runs, so a
    retried or late task applies the newest values."""
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return "gone"
    try:
        get_backend().ensure_project(project_limits(project))
    except BackendError as error:
        if error.permanent:
            raise
        raise self.retry(exc=error, countdown=min(2**self.request.retries * 5, 600)) from error
    return "mirrored"


@shared_task(base=WritingTask)
def mirror_all_quotas() -> int:
    """Periodic repair: mirror every active project's quota (a lost task or an edited namespace)."""
    count = 0
    for project_id in Project.objects.filter(status=Project.Status.ACTIVE).values_list("pk", flat=True):
        # Beside their periodic parent: a thousand projects never queue ahead of dispatches.
        mirror_quota.apply_async((project_id,), queue=settings.TALLER_PERIODIC_QUEUE)
        count += 1
    return count
