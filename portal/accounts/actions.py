"""Writes on accounts: creating and revoking API tokens."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from .models import ApiToken, User, hash_token


def _record(token: ApiToken, verb: str) -> None:
    """A person's token created or revoked, in the audit log (the tokens the portal makes for jobs
    and deployments are part of those, not changes of their own). The log is reached through the
    token's project foreign key: portal/projects imports accounts, not the reverse."""
    if token.workload:
        return
    projects = ApiToken._meta.get_field("project").related_model
    events = projects._meta.get_field("audit_events").related_model.objects
    scope = f", scoped to {token.project.slug}" if token.project_id else ""
    events.record(token.user, token.project, verb, f"{token.name}{scope}", target=f"token {token.prefix}")


@transaction.atomic(savepoint=False)  # inside another transaction, no savepoint needed
def create_token(
    user: User, name: str, *, project=None, scope=None, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Create a token and return it with its key, which is never stored and cannot be shown again.

    ``project`` makes a job's token (that project's tracking only, see ``ApiToken``); ``scope``
    makes a person's token that reaches one project alone, in the API and the proxy.
    """
    if project is not None and scope is not None:
        raise ValueError("a token is either a job's (project) or a person's scoped one (scope)")
    token, key = _new_token(
        user,
        name,
        project if project is not None else scope,
        workload=project is not None,
        expires_at=expires_at,
    )
    token.save(force_insert=True)
    _record(token, "token.create")
    return token, key


def create_job_tokens(jobs: list[tuple[User, str, object]]) -> list[tuple[ApiToken, str]]:
    """``create_token(user, name, project=project)`` for each (user, name, project), in one INSERT:
    the tokens of a batch of jobs (a job's token is not audited, see ``_record``)."""
    made = [_new_token(user, name, project, workload=True) for user, name, project in jobs]
    ApiToken.objects.bulk_create([token for token, _key in made])
    return made


def _new_token(user: User, name: str, project, *, workload: bool, expires_at=None) -> tuple[ApiToken, str]:
    key = ApiToken.generate_key()
    token = ApiToken(
        user=user,
        name=name,
        prefix=key[:12],
        key_hash=hash_token(key),
        project=project,
        workload=workload,
        expires_at=expires_at,
    )
    return token, key


def personal_tokens(user: User):
    """A person's own tokens that are not revoked (expired ones included, marked as such), newest
    first; the tokens the portal made for jobs are not among them."""
    return ApiToken.objects.filter(user=user, workload=False, revoked_at__isnull=True)


@transaction.atomic
def revoke_token(token: ApiToken) -> None:
    if ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()):
        _record(token, "token.revoke")


def authenticate_token(key: str) -> ApiToken | None:
    """The active token for a key, or None. Records its last use at most once a minute."""
    if not key:
        return None
    token = ApiToken.objects.active().select_related("user").filter(key_hash=hash_token(key)).first()
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token
