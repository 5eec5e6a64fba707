"""A project's DVC remote set or removed by its owners (who may do it is the caller's check:
``access.check(user, project, Need.MANAGE)``). Its key pair is stored encrypted and never read
back.

Allowed: an ``s3://bucket/prefix`` address, with an ``https://`` endpoint for an S3-compatible
server other than AWS's (plain ``http://`` and private addresses only for a host the site trusts,
``TALLER_DVC_TRUSTED_HOSTS``: the portal hands the endpoint to its jobs, so it refuses what would
reach the portal's own or the cluster's private services); a folder under one of
``TALLER_DVC_SHARED_ROOTS`` (a volume the site mounts on its machines); and on the local executor
(the embedded default) a folder of the portal's own under ``var/``.
"""

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from portal.projects.actions import record

from . import crypto
from .models import DvcRemote, local_folder
from .remote import _host_error

BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
MAX_KEY = 1024


def _s3_error(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme != "s3" or not BUCKET.fullmatch(parts.netloc or "") or parts.query or parts.fragment:
        return _("Give the bucket as s3://bucket/prefix.")
    if any(ch.isspace() or ord(ch) < 32 for ch in url) or ".." in parts.path.split("/"):
        return _("Give the bucket as s3://bucket/prefix.")
    return None


def _endpoint_error(endpoint: str) -> str | None:
    parts = urlsplit(endpoint)
    if parts.scheme not in {"https", "http"} or not parts.hostname or parts.username or parts.password:
        return _("Give the endpoint as https://host[:port], without credentials.")
    if parts.query or parts.fragment or any(ch.isspace() for ch in endpoint):
        return _("Give the endpoint as https://host[:port], without credentials.")
    if _host_error(parts.hostname, parts.port, plain_http=parts.scheme == "http", trusted=_trusted()):
        return _(
            "The endpoint's host is not allowed: use https:// to a public address, "
            "or a host the site trusts (TALLER_DVC_TRUSTED_HOSTS)."
        )
    return None


def _trusted() -> list[str]:
    return list(settings.TALLER_DVC_TRUSTED_HOSTS)


def _shared_error(path: str) -> str | None:
    roots = [Path(os.path.normpath(root)) for root in settings.TALLER_DVC_SHARED_ROOTS]
    if not roots:
        return _("This site has no shared volume for DVC data: use an S3-compatible bucket.")
    if not path.startswith("/") or any(ch.isspace() and ch != " " or ord(ch) < 32 for ch in path):
        return _("Give the folder as an absolute path.")
    folder = Path(os.path.normpath(path))
    if not any(root in folder.parents for root in roots):
        return _("The folder must be inside one of: %(roots)s.") % {
            "roots": ", ".join(str(root) for root in roots)
        }
    return None


def set_remote(
    user,
    project,
    *,
    kind: str,
    url: str = "",
    endpoint_url: str = "",
    access_key_id: str = "",
    secret_access_key: str = "",
) -> DvcRemote:
    """Replace the project's DVC remote. ValidationError per field for what may not be used."""
    kind, url, endpoint_url = kind.strip(), url.strip(), endpoint_url.strip()
    access_key_id, secret_access_key = access_key_id.strip(), secret_access_key.strip()
    errors: dict[str, str] = {}
    if kind not in DvcRemote.Kind.values:
        errors["kind"] = _("Choose s3, shared or local.")
    elif kind == DvcRemote.Kind.S3:
        if message := _s3_error(url) if len(url) <= 500 else _("At most 500 characters."):
            errors["url"] = message
        if endpoint_url and (message := _endpoint_error(endpoint_url)):
            errors["endpoint_url"] = message
        if bool(access_key_id) != bool(secret_access_key):
            errors["secret_access_key"] = _(
                "Give both the access key id and the secret access key, or neither."
            )
        if len(access_key_id) > MAX_KEY or len(secret_access_key) > MAX_KEY:
            errors["access_key_id"] = _("Too long.")
    else:
        extra = {
            "endpoint_url": endpoint_url,
            "access_key_id": access_key_id,
            "secret_access_key": secret_access_key,
        }
        for name, value in extra.items():
            if value:
                errors[name] = _("Only an S3-compatible bucket takes this.")
        if kind == DvcRemote.Kind.SHARED:
            if message := _shared_error(url) if len(url) <= 500 else _("At most 500 characters."):
                errors["url"] = message
        else:
            if settings.TALLER_EXECUTOR != "local":
                errors["kind"] = _("The portal's own folder serves jobs on the local executor only.")
            if url:
                errors["url"] = _("The portal's own folder has no address to give.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        row, _created = DvcRemote.objects.update_or_create(
            project=project,
            defaults={
                "kind": kind,
                "url": os.path.normpath(url) if kind == DvcRemote.Kind.SHARED else url,
                "endpoint_url": endpoint_url,
                "access_key_id_sealed": crypto.seal(access_key_id),
                "secret_access_key_sealed": crypto.seal(secret_access_key),
                "set_by": user,
            },
        )
        # Where the data is, never the key pair.
        where = " ".join(filter(None, [kind, url, endpoint_url, "with keys" if access_key_id else ""]))
        record(user, project, "source.dvc_remote_set", where, target="DVC remote")
    if kind == DvcRemote.Kind.LOCAL:
        local_folder(project.slug).mkdir(parents=True, exist_ok=True)
    return row


def clear_remote(user, project) -> bool:
    """Remove the project's DVC remote; False when it had none. Jobs with DVC targets are then
    refused at submission until one is set again."""
    with transaction.atomic():
        deleted, _rows = DvcRemote.objects.filter(project=project).delete()
        if deleted:
            record(user, project, "source.dvc_remote_clear", target="DVC remote")
    return bool(deleted)


def project_remote(project) -> DvcRemote | None:
    return DvcRemote.objects.filter(project=project).select_related("project").first()
