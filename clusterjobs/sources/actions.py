"""A project's git credential set or removed by its owners (who may do it is the caller's check:
``access.check(user, project, Need.MANAGE)``). Its values are never read back."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from portal.projects.actions import record

from . import crypto
from .models import SourceCredential

MAX_SECRET = 16384


def set_credential(
    user, project, *, username: str = "", token: str = "", ssh_key: str = ""
) -> SourceCredential:
    """Replace the project's credential: a token (with the user name the forge wants, e.g. a
    GitLab deploy token's) for https, or a private key for ssh; exactly one of the two."""
    username, token, ssh_key = username.strip(), token.strip(), ssh_key.strip()
    errors = {}
    if bool(token) == bool(ssh_key):
        errors["token"] = _("Give either a token (for https) or an ssh key, not both.")
    if len(token) > MAX_SECRET or len(ssh_key) > MAX_SECRET:
        errors["token" if token else "ssh_key"] = _("Too long.")
    if ssh_key and "PRIVATE KEY-----" not in ssh_key:
        errors["ssh_key"] = _("Give the private key, as its file reads (-----BEGIN … PRIVATE KEY-----).")
    if len(username) > 200 or any(ch.isspace() for ch in username):
        errors["username"] = _("A user name has at most 200 characters and no spaces.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        row, _created = SourceCredential.objects.update_or_create(
            project=project,
            defaults={
                "username": username,
                "token_sealed": crypto.seal(token),
                "ssh_key_sealed": crypto.seal(ssh_key),
                "set_by": user,
            },
        )
        # What kind of credential, never its values.
        kind = "ssh key" if ssh_key else f"token for {username}" if username else "token"
        record(user, project, "source.git_credential_set", kind, target="git credential")
    return row


def clear_credential(user, project) -> bool:
    """Remove the project's credential; False when it had none."""
    with transaction.atomic():
        deleted, _rows = SourceCredential.objects.filter(project=project).delete()
        if deleted:
            record(user, project, "source.git_credential_clear", target="git credential")
    return bool(deleted)
