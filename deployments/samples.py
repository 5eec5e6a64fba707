"""Sampled calls of the serving path (``serving._sampled`` keeps them): the sampling setting of
a deployment, reading the samples back, and deleting those past their deployment's retention."""

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.projects.access import Need, check
from portal.projects.actions import record

from .models import CallSample, Deployment

PURGE_BATCH = 1000


def set_sampling(actor, deployment: Deployment, *, fraction, retention_days) -> Deployment:
    """Keep ``fraction`` of the calls (0: none) for ``retention_days`` days; members and owners."""
    check(actor, deployment.project, Need.CHANGE)
    errors = {}
    try:
        fraction = float(fraction)
        if not 0 <= fraction <= 1:
            raise ValueError
    except (TypeError, ValueError):
        errors["fraction"] = _("A share between 0 (off) and 1 (every call).")
    most = settings.TALLER_SERVE_SAMPLE_MAX_DAYS
    try:
        retention_days = int(retention_days)
        if not 1 <= retention_days <= most:
            raise ValueError
    except (TypeError, ValueError):
        errors["retention_days"] = _("A whole number of days from 1 to %(n)s.") % {"n": most}
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        deployment.sample_fraction = fraction
        deployment.sample_retention_days = retention_days
        deployment.updated_at = timezone.now()
        deployment.save(update_fields=["sample_fraction", "sample_retention_days", "updated_at"])
        record(
            actor,
            deployment.project,
            "deployment.sampling",
            f"{deployment.name}: {fraction:g} of calls, {retention_days} days",
        )
    return deployment


def samples_of(deployment: Deployment, since: datetime | None = None, until: datetime | None = None):
    found = CallSample.objects.filter(deployment=deployment)
    if since is not None:
        found = found.filter(at__gte=since)
    if until is not None:
        found = found.filter(at__lt=until)
    return found.order_by("-at", "-pk")


def purge(now: datetime | None = None, batch: int = PURGE_BATCH) -> int:
    """Delete samples older than their deployment's retention, ``batch`` rows per statement."""
    now = now or timezone.now()
    retentions = (
        Deployment.objects.filter(samples__isnull=False)
        .values_list("sample_retention_days", flat=True)
        .distinct()
    )
    stale = Q()
    for days in retentions:
        stale |= Q(deployment__sample_retention_days=days, at__lt=now - timedelta(days=days))
    if not stale:
        return 0
    deleted = 0
    while True:
        ids = list(CallSample.objects.filter(stale).values_list("pk", flat=True)[:batch])
        if not ids:
            return deleted
        deleted += CallSample.objects.filter(pk__in=ids).delete()[0]


def as_row(sample: CallSample) -> dict:
    """A sample as the JSON lines download writes it (bodies as text, undecodable bytes replaced)."""
    return {
        "id": sample.pk,
        "at": sample.at.isoformat(),
        "status": sample.status,
        "latency_ms": sample.latency_ms,
        "content_type": sample.content_type,
        "request": sample.request_text(),
        "request_truncated": sample.request_truncated,
        "response": sample.response_text(),
        "response_truncated": sample.response_truncated,
    }
