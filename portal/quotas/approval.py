"""Approving a project and setting its quota in one step (the site admins' review page, the API).

Lives beside the quotas because it writes both: the project's decision (portal/projects/actions.py)
and its quota (``actions.update_quota``), in one transaction: a quota the site refuses leaves the
project pending.
"""

from django.db import transaction

from portal.projects.actions import approve_project
from portal.projects.models import Project

from .actions import update_quota


@transaction.atomic
def approve_with_quota(admin, project: Project, reason: str = "", quota: dict | None = None) -> Project:
    """Approve ``project``; with ``quota`` (field values, as ``update_quota`` takes) also set them,
    recorded in the quota's history with the approval's reason."""
    project = approve_project(admin, project, reason)
    if quota:
        update_quota(admin, project, reason.strip() or "set when the project was approved", **quota)
    return project
