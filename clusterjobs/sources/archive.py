"""A code snapshot's file where the local executor's unpack step reads it: in place when the
"snapshots" storage is this machine's disk, else (a bucket) copied into the job's control folder.
Django's storage API only: no models (the local backend imports it)."""

import logging
from pathlib import Path

from django.core.files.storage import storages

from .checkout import snapshot_name

log = logging.getLogger(__name__)


def local_archive(project: str, digest: str, folder: Path) -> str:
    """The path of the project's snapshot ``digest`` on this machine. One the storage lacks: a
    path that is not there, so the unpack step fails naming it."""
    storage, name = storages["snapshots"], snapshot_name(project, digest)
    try:
        return storage.path(name)
    except NotImplementedError:
        pass
    copy = folder / "snapshot.tar.gz"
    try:
        with storage.open(name, "rb") as source, open(copy, "wb") as target:
            while chunk := source.read(1 << 20):
                target.write(chunk)
    except Exception as error:  # a bucket's client raises errors of its own
        log.warning("could not copy snapshot %s of %s: %s", digest[:12], project, error)
    return str(copy)
