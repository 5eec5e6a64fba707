"""Writes on quotas: changes by site admins, requests by owners and their decisions, member caps.

Every change of a quota is recorded (QuotaChange: who, when, why, values before and after) and
in the project's audit log; after commit the cluster's mirror of the quota is updated and the
queues are drained, since a raised quota may let waiting jobs start. Lowering a quota below what
is in use is allowed: running jobs keep running, new ones wait.
"""

import logging
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from clusterjobs.tasks import drain_queues
from portal.projects.actions import record
from portal.projects.models import Membership, Project, Role

from .models import (
    QUOTA_FIELDS,
    REQUESTABLE_FIELDS,
    MemberCap,
    Period,
    Quota,
    QuotaChange,
    QuotaRequest,
    ensure_quota,
)
from .tasks import mirror_quota

INTEGER_FIELDS = {"max_gpus", "max_memory_mib", "max_running_jobs", "max_time_limit_minutes"}
DECIMAL_PLACES = {"max_cpu": 3, "gpu_hours_per_period": 2, "cpu_hours_per_period": 2}
# Settings that bound what one project may hold: the cluster itself.
log = logging.getLogger(__name__)

CLUSTER_LIMITS = {
    "max_gpus": "TALLER_CLUSTER_GPUS",
    "max_cpu": "TALLER_CLUSTER_CPU",
    "max_memory_mib": "TALLER_CLUSTER_MEMORY_MIB",
}


def field_label(name: str) -> str:
    return str(Quota._meta.get_field(name).verbose_name)


def clean_values(values: dict, *, fields=QUOTA_FIELDS) -> dict:
    """Quota values from a form, the API or a request, checked: numbers of the right kind, not
    negative, not absurd (above the site's maxima or the cluster's size). Raises a ValidationError
    with a message per field; returns the values as the model stores them."""
    cleaned, errors = {}, {}
    for name, raw in values.items():
        if name not in fields:
            errors[name] = _("“%(name)s” is not a quota field.") % {"name": name}
            continue
        if name == "period":
            if raw not in Period.values:
                errors[name] = _("Choose weekly, monthly, quarterly or yearly.")
            else:
                cleaned[name] = raw
            continue
        try:
            if isinstance(raw, bool):
                raise InvalidOperation
            number = Decimal(str(raw).strip())
            if not number.is_finite():
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            errors[name] = _("Enter a number.")
            continue
        if name in INTEGER_FIELDS and number != number.to_integral_value():
            errors[name] = _("Enter a whole number.")
            continue
        if name in DECIMAL_PLACES and number != round(number, DECIMAL_PLACES[name]):
            errors[name] = _("Use at most %(n)s decimal places.") % {"n": DECIMAL_PLACES[name]}
            continue
        if number < 0:
            errors[name] = _("A quota cannot be negative.")
            continue
        if name == "max_time_limit_minutes" and number < 1:
            errors[name] = _("Allow at least 1 minute per job.")
            continue
        maximum = settings.TALLER_QUOTA_MAXIMA.get(name)
        if maximum is not None and number > maximum:
            errors[name] = _("%(value)s is more than any project may have (at most %(max)s).") % {
                "value": number,
                "max": maximum,
            }
            continue
        cluster = getattr(settings, CLUSTER_LIMITS[name], 0) if name in CLUSTER_LIMITS else 0
        if cluster and number > cluster:
            errors[name] = _("The whole cluster has only %(max)s; a project cannot hold %(value)s.") % {
                "max": cluster,
                "value": number,
            }
            continue
        cleaned[name] = int(number) if name in INTEGER_FIELDS else number
    if errors:
        raise ValidationError(errors)
    return cleaned


def _after_change(project_id: int) -> None:
    """After commit: mirror the quota on the cluster, and let waiting jobs start if they now fit."""
    transaction.on_commit(lambda: _enqueue_mirror(project_id))
    transaction.on_commit(drain_queues_soon)


def _enqueue_mirror(project_id: int) -> None:
    try:
        mirror_quota.delay(project_id)
    except Exception:  # the broker is down: the hourly mirror_all_quotas repairs it
        log.exception("could not enqueue the quota mirror of project %s", project_id)


def drain_queues_soon() -> None:
    """Ask the workers to admit and dispatch what fits now (the jobs app owns the queue task)."""
    try:
        drain_queues.delay()
    except Exception:  # the broker is down: the periodic drain of the queues repairs it
        log.exception("could not enqueue a drain of the queues")


def _apply(
    actor, quota: Quota, values: dict, reason: str, request: QuotaRequest | None = None
) -> QuotaChange:
    old = quota.limits()
    for name, value in values.items():
        setattr(quota, name, value)
    quota.save(update_fields=[*values, "updated_at"])
    new = quota.limits()
    change = QuotaChange.objects.create(
        project=quota.project, actor=actor, reason=reason, old_values=old, new_values=new, request=request
    )
    summary = ", ".join(f"{name} {before} → {after}" for name, before, after in change.changed())
    record(actor, quota.project, "quota changed", f"{summary or _('no value changed')}: {reason}")
    _after_change(quota.project_id)
    return change


@transaction.atomic
def update_quota(actor, project: Project, reason: str, **values) -> QuotaChange | None:
    """A site admin sets the project's quota. Records who, when, why and what changed.

    Setting the values the quota already has changes nothing and records nothing (None): a script
    that sends the quota it wants, or a form saved twice, is not an error."""
    if not actor.is_site_admin:
        raise ValidationError(_("Only a site admin can change a quota."))
    if not reason.strip():
        raise ValidationError({"reason": _("Say why the quota changes.")})
    cleaned = clean_values(values)
    quota = Quota.objects.select_for_update().get(pk=ensure_quota(project).pk)
    if all(
        quota.limits().get(name) == Quota(**{name: value}).limits().get(name)
        for name, value in cleaned.items()
    ):
        return None
    return _apply(actor, quota, cleaned, reason.strip())


@transaction.atomic
def request_quota(owner, project: Project, reason: str, /, **values) -> QuotaRequest:
    """A project owner asks for more of some quota fields. The names before ``/`` are positional
    only, so a value named ``reason`` or ``owner`` (a typo in an API body) is a value to refuse, not
    a second argument."""
    if not (
        owner.is_site_admin
        or Membership.objects.filter(project=project, user=owner, role=Role.OWNER).exists()
    ):
        raise ValidationError(_("Only an owner of the project can ask for more quota."))
    if project.status in (Project.Status.REJECTED, Project.Status.ARCHIVED):
        raise ValidationError(_("This project is %(status)s.") % {"status": project.get_status_display()})
    values = {name: value for name, value in values.items() if value not in (None, "")}
    if not values:
        raise ValidationError(_("Say which part of the quota you need more of, and how much."))
    if not reason.strip():
        raise ValidationError({"reason": _("Say why the project needs it.")})
    cleaned = clean_values(values, fields=REQUESTABLE_FIELDS)
    quota = ensure_quota(project)
    current = quota.limits()
    plain = Quota(**cleaned).limits()
    same = [name for name in cleaned if plain[name] == current[name]]
    if same and len(same) == len(cleaned):
        raise ValidationError(
            {name: _("This is the current value; ask for a different one.") for name in same}
        )
    request = QuotaRequest.objects.create(
        project=project,
        requested_by=owner,
        values={name: plain[name] for name in cleaned if name not in same},
        reason=reason.strip(),
    )
    record(owner, project, "quota requested", reason.strip())
    return request


def _pending(request: QuotaRequest) -> QuotaRequest:
    locked = QuotaRequest.objects.select_for_update().get(pk=request.pk)
    if not locked.is_pending():
        raise ValidationError(
            _("This request was already %(status)s.") % {"status": locked.get_status_display()}
        )
    return locked


@transaction.atomic
def approve_request(admin, request: QuotaRequest, reason: str = "") -> QuotaChange:
    """A site admin grants a request: the quota takes the requested values, recorded as a change."""
    if not admin.is_site_admin:
        raise ValidationError(_("Only a site admin can decide on quota requests."))
    request = _pending(request)
    cleaned = clean_values(request.values, fields=REQUESTABLE_FIELDS)
    request.status = QuotaRequest.Status.APPROVED
    request.decided_by = admin
    request.decided_at = timezone.now()
    request.decision_reason = reason.strip()
    request.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
    quota = Quota.objects.select_for_update().get(pk=ensure_quota(request.project).pk)
    why = _("Request of %(user)s approved: %(reason)s") % {
        "user": request.requested_by.username,
        "reason": reason.strip() or request.reason,
    }
    return _apply(admin, quota, cleaned, why, request=request)


@transaction.atomic
def decline_request(admin, request: QuotaRequest, reason: str) -> QuotaRequest:
    if not admin.is_site_admin:
        raise ValidationError(_("Only a site admin can decide on quota requests."))
    if not reason.strip():
        raise ValidationError({"reason": _("Say why the request is declined.")})
    request = _pending(request)
    request.status = QuotaRequest.Status.DECLINED
    request.decided_by = admin
    request.decided_at = timezone.now()
    request.decision_reason = reason.strip()
    request.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
    record(admin, request.project, "quota request declined", reason.strip())
    return request


@transaction.atomic
def set_member_cap(
    actor, membership: Membership, *, max_gpus=None, max_running_jobs=None
) -> MemberCap | None:
    """Cap one member inside the project's quota; both values empty removes the cap."""
    values = {}
    errors = {}
    for name, raw in (("max_gpus", max_gpus), ("max_running_jobs", max_running_jobs)):
        if raw in (None, ""):
            values[name] = None
            continue
        try:
            cleaned = clean_values({name: raw})[name]
        except ValidationError as error:
            errors.update(error.message_dict)
            continue
        values[name] = cleaned
    if errors:
        raise ValidationError(errors)
    who = membership.user.username
    if values["max_gpus"] is None and values["max_running_jobs"] is None:
        MemberCap.objects.filter(membership=membership).delete()
        record(actor, membership.project, "member cap removed", who)
        _after_change(membership.project_id)
        return None
    cap, _created = MemberCap.objects.update_or_create(membership=membership, defaults=values)
    record(
        actor,
        membership.project,
        "member cap set",
        f"{who}: GPUs {cap.max_gpus if cap.max_gpus is not None else '-'}, "
        f"running jobs {cap.max_running_jobs if cap.max_running_jobs is not None else '-'}",
    )
    _after_change(membership.project_id)
    return cap
