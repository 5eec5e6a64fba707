"""Writes on quotas."""

from .models import Quota


def ensure_quota(project) -> Quota:
    """The project's quota, created from the settings' defaults the first time."""
    quota, _created = Quota.objects.get_or_create(project=project, defaults=Quota.defaults())
    return quota
