"""Code snapshots: a project's uploaded folders, content-addressed by SHA-256 (the same folder is
stored once), kept through Django's storage API (``storages["snapshots"]``). A job whose source is
``{"snapshot": <digest>}`` starts in an unpacked copy."""

import hashlib
import re
import tarfile
import tempfile

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from portal.projects.actions import record

from .checkout import snapshot_name
from .models import CodeSnapshot
from .unpack import UnsafeArchive, check

DIGEST = re.compile(r"[0-9a-f]{64}")


def storage():
    return storages["snapshots"]


def digest_error(digest: str) -> str | None:
    if not DIGEST.fullmatch(digest or ""):
        return _("A snapshot is named by its SHA-256: 64 lowercase hexadecimal digits.")
    return None


def store_snapshot(user, project, digest: str, data: bytes) -> tuple[CodeSnapshot, bool]:
    """Keep ``data`` (a .tar.gz) as the project's snapshot ``digest``; (snapshot, created). A digest
    already stored is not written again. ValidationError for a digest that does not match the
    bytes, a body over TALLER_SNAPSHOT_MAX_BYTES or an archive that is not a safe .tar.gz."""
    if message := digest_error(digest):
        raise ValidationError({"digest": message})
    existing = CodeSnapshot.objects.filter(project=project, digest=digest).first()
    if existing is not None:
        return existing, False
    if len(data) > settings.TALLER_SNAPSHOT_MAX_BYTES:
        raise ValidationError(
            {
                "archive": _("A snapshot has at most %(n)s bytes here.")
                % {"n": settings.TALLER_SNAPSHOT_MAX_BYTES}
            }
        )
    if hashlib.sha256(data).hexdigest() != digest:
        raise ValidationError({"digest": _("The archive's SHA-256 is not the one named.")})
    with tempfile.NamedTemporaryFile(suffix=".tar.gz") as file:
        file.write(data)
        file.flush()
        try:
            check(file.name)
        except (tarfile.TarError, UnsafeArchive, OSError) as error:
            raise ValidationError(
                {"archive": _("Not a usable .tar.gz: %(error)s") % {"error": error}}
            ) from error
    name = snapshot_name(project.slug, digest)
    if not storage().exists(name):
        storage().save(name, ContentFile(data))
    try:
        with transaction.atomic():
            return CodeSnapshot.objects.create(
                project=project, digest=digest, size=len(data), created_by=user
            ), True
    except IntegrityError:  # the same upload, at the same time
        return CodeSnapshot.objects.get(project=project, digest=digest), False


def snapshot_source_error(project, digest: str) -> str | None:
    """Why a job of ``project`` cannot start from snapshot ``digest``, or None."""
    if message := digest_error(digest):
        return message
    if not CodeSnapshot.objects.filter(project=project, digest=digest).exists():
        return _("The project has no snapshot %(digest)s: upload it first.") % {"digest": digest[:12]}
    return None


class SnapshotInUse(Exception):
    """A snapshot that jobs still name (a re-run or a reproduction needs it): not deleted."""

    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.count = count


def jobs_using(project, digest: str | list[str]):
    """The project's jobs whose source names the snapshot (finished ones too: a re-run needs it),
    or any of a list of them."""
    from ..models import Job

    if isinstance(digest, list):
        return Job.objects.filter(project=project, source__snapshot__in=digest)
    return Job.objects.filter(project=project, source__snapshot=digest)


def delete_snapshot(user, project, digest: str) -> bool:
    """Delete the project's snapshot ``digest`` (its row, then its file once that is committed);
    False when the project has none. SnapshotInUse while any job of the project names it. The row
    is locked meanwhile, so two deletes do not both remove the file."""
    with transaction.atomic():
        row = CodeSnapshot.objects.select_for_update().filter(project=project, digest=digest).first()
        if row is None:
            return False
        if count := jobs_using(project, digest).count():
            raise SnapshotInUse(count)
        row.delete()
        record(user, project, "source.snapshot_delete", target=f"snapshot {digest[:12]}")
        name = snapshot_name(project.slug, digest)
        transaction.on_commit(lambda: storage().delete(name))
    return True
