"""Keys made for one deployment: created (shown once), revoked, and who a serving call is.

A call carries ``Authorization: Token <key>`` (or ``Bearer``): a deployment key of this
deployment, or a portal token of a person who may see the project (a token scoped to another
project, a job's token, an expired or revoked one: refused)."""

import functools
import secrets
import time

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.accounts.actions import authenticate_token
from portal.accounts.models import hash_token
from portal.projects.access import Need, can, check
from portal.projects.actions import record

from . import known_keys
from .models import KEY_PREFIX, SERVED_FIELDS, Deployment, DeploymentKey


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


@functools.cache
def _keyed_sql() -> str:
    key, deployment = DeploymentKey._meta, Deployment._meta
    project = deployment.get_field("project").related_model._meta
    columns = ", ".join(f"d.{deployment.get_field(field).column}" for field in ("id", *SERVED_FIELDS[1:]))
    return (
        f"SELECT k.{key.pk.column}, {columns}"
        f" FROM {key.db_table} k"
        f" JOIN {deployment.db_table} d ON d.{deployment.pk.column} = k.{key.get_field('deployment').column}"
        f" JOIN {project.db_table} p ON p.{project.pk.column} = d.{deployment.get_field('project').column}"
        f" WHERE k.{key.get_field('key_hash').column} = %s AND k.{key.get_field('revoked_at').column} IS NULL"
        f" AND p.{project.get_field('slug').column} = %s AND d.{deployment.get_field('name').column} = %s"
    )


def keyed_deployment(slug: str, name: str, raw: str) -> tuple[Deployment, str] | None:
    """The deployment ``slug``/``name`` and who calls it (``key:<id>``), when ``raw`` is one of its
    keys and not revoked; else None. One query: the key's row joined to its deployment's, the
    fields the serving path reads, in a bare model. In SQL of its own, built once from the models'
    tables: the ORM's compiling of the same join was 40 % of the portal's CPU per call (cProfile,
    bench/bench_serving.py's model)."""
    with connection.cursor() as cursor:
        cursor.execute(_keyed_sql(), [hash_token(raw), slug, name])
        row = cursor.fetchone()
    if row is None:
        return None
    return Deployment(**dict(zip(SERVED_FIELDS, row[1:], strict=True))), f"key:{row[0]}"


def keyed_call(slug: str, name: str, raw: str, count) -> tuple[Deployment, str, int] | None:
    """``keyed_deployment``, remembered (``known_keys``), and the call counted: ``count(who,
    other)`` counts a call of ``who`` and returns the count and the cached value of ``other``.
    The deployment returned is shared by the process's calls: read it, never change it."""
    digest = hash_token(raw)
    known = known_keys.known.get((digest, slug, name))
    calls = None
    if known is not None and time.monotonic() < known.until:
        calls, generation = count(known.who, known_keys.GENERATION)
        if generation == known.generation:
            return known.deployment, known.who, calls
        known_keys.known.clear()
    else:
        generation = cache.get(known_keys.GENERATION)
    found = keyed_deployment(slug, name, raw)
    if found is None:
        return None
    if len(known_keys.known) >= known_keys.MOST:
        known_keys.known.clear()
    known_keys.known[(digest, slug, name)] = known_keys.Known(
        time.monotonic() + known_keys.SECONDS, generation, *found
    )
    if calls is None:  # a call is counted once
        calls, _generation = count(found[1], known_keys.GENERATION)
    return *found, calls


def caller(deployment: Deployment, raw: str) -> str | None:
    """Who calls with the portal token ``raw`` (``user:<id>``), or None if it does not open this
    deployment. A deployment key is ``keyed_call``'s."""
    token = authenticate_token(raw)
    if token is None or token.is_workload_token():
        return None
    if token.project_id is not None and token.project_id != deployment.project_id:
        return None
    if not can(token.user, deployment.project, Need.VIEW):
        return None
    return f"user:{token.user_id}"
