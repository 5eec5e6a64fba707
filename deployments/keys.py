"""Keys made for one deployment: created (shown once), revoked, and who a serving call is.

A call carries ``Authorization: Token <key>`` (or ``Bearer``): a deployment key of this
deployment, or a portal token of a person who may see the project (a token scoped to another
project, a job's token, an expired or revoked one: refused)."""

import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.accounts.actions import authenticate_token
from portal.accounts.models import hash_token
from portal.projects.access import Need, can, check
from portal.projects.actions import record

from .models import KEY_PREFIX, Deployment, DeploymentKey


def check_may_manage(actor, deployment: Deployment) -> None:
    """Keys are seen and made by those who may change the deployment (members and owners)."""
    check(actor, deployment.project, Need.CHANGE)


def create_key(actor, deployment: Deployment, name: str) -> tuple[DeploymentKey, str]:
    check(actor, deployment.project, Need.CHANGE)
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationError({"name": _("A name of 1 to 100 characters.")})
    if not deployment.is_live():
        raise ValidationError(
            {"name": _("The deployment is %(status)s.") % {"status": deployment.get_status_display()}}
        )
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        key = DeploymentKey.objects.create(
            deployment=deployment, name=name, prefix=raw[:12], key_hash=hash_token(raw), created_by=actor
        )
        record(actor, deployment.project, "deployment.key.create", f"{deployment.name}: {name}")
    return key, raw


def revoke_key(actor, key: DeploymentKey) -> DeploymentKey:
    check(actor, key.deployment.project, Need.CHANGE)
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        record(actor, key.deployment.project, "deployment.key.revoke", f"{key.deployment.name}: {key.name}")
    return key


def caller(deployment: Deployment, raw: str) -> str | None:
    """Who calls with ``raw``: a name for the rate limit (``key:<id>`` or ``user:<id>``), or None
    if the credential does not open this deployment."""
    if raw.startswith(KEY_PREFIX):
        key = (
            DeploymentKey.objects.filter(
                key_hash=hash_token(raw), deployment=deployment, revoked_at__isnull=True
            )
            .only("pk")
            .first()
        )
        return f"key:{key.pk}" if key is not None else None
    token = authenticate_token(raw)
    if token is None or token.is_workload_token():
        return None
    if token.project_id is not None and token.project_id != deployment.project_id:
        return None
    if not can(token.user, deployment.project, Need.VIEW):
        return None
    return f"user:{token.user_id}"
