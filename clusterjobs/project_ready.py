"""A project prepared on its backend (Kubernetes: its namespace, ResourceQuota and LimitRange)
before its jobs are created there: once, and again only when its limits change or
TALLER_PROJECT_READY_SECONDS pass, however many workers dispatch its jobs."""

import dataclasses
import hashlib
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from portal.projects.models import Project

from . import admission
from .backends import Backend, ProjectLimits
from .models import PreparedProject


def _limits_digest(limits: ProjectLimits) -> str:
    values = [str(getattr(limits, f.name)) for f in dataclasses.fields(limits)]
    return hashlib.sha256("|".join(values).encode()).hexdigest()[:32]


# Per process, which projects it prepared (or saw prepared) lately: {(scope, slug): (digest, until)}.
_ready: dict[tuple[str, str], tuple[str, float]] = {}


def _scope(backend: Backend) -> str:
    return hashlib.sha256(backend.scope().encode()).hexdigest()[:32]


def forget_project_ready(backend: Backend, slug: str) -> None:
    """Make the next dispatch prepare the project on the backend again."""
    scope = _scope(backend)
    _ready.pop((scope, slug), None)
    PreparedProject.objects.filter(scope=scope, slug=slug).delete()


def ensure_project(backend: Backend, project: Project) -> ProjectLimits:
    """Prepare the project on the backend (Kubernetes: namespace, ResourceQuota, LimitRange, six
    requests) only when it never was, or its limits changed since the last successful preparation
    on this backend, or TALLER_PROJECT_READY_SECONDS passed since; otherwise nothing. Returns the
    limits, which the job spec carries so that a backend that finds the project gone while
    submitting prepares it in full again.

    The project's PreparedProject row is locked while it is prepared: concurrent first dispatches
    of a project wait for the one preparing it, then find it prepared (once, not once each)."""
    limits = admission.project_limits(project)
    scope, digest = _scope(backend), _limits_digest(limits)
    key = (scope, project.slug)
    now = time.monotonic()
    memo = _ready.get(key)
    if memo is not None and memo[0] == digest and memo[1] > now:
        return limits  # this process prepared it (or saw it prepared) with these limits lately
    fresh_since = timezone.now() - timedelta(seconds=settings.TALLER_PROJECT_READY_SECONDS)
    rows = PreparedProject.objects.filter(scope=scope, slug=project.slug)
    if not rows.filter(digest=digest, prepared_at__gt=fresh_since).exists():
        with transaction.atomic():
            # The row first (its INSERT also takes SQLite's write lock), then its lock.
            PreparedProject.objects.bulk_create(
                [PreparedProject(scope=scope, slug=project.slug)], ignore_conflicts=True
            )
            row = rows.select_for_update().get()
            if row.digest != digest or row.prepared_at is None or row.prepared_at <= fresh_since:
                backend.ensure_project(limits)
                rows.update(digest=digest, prepared_at=timezone.now())
    _ready[key] = (digest, now + min(60.0, settings.TALLER_PROJECT_READY_SECONDS))
    return limits
