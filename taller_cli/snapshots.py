"""`taller submit --code DIR`: the folder packed as a .tar.gz (the files git would keep: .gitignore
honoured, .git left out; the same folder always gives the same bytes), named by its SHA-256 and
uploaded only when the project does not have it yet."""

import gzip
import hashlib
import io
import os
import subprocess
import tarfile
import tempfile
from pathlib import Path

from .client import Api, ApiError


class PackError(Exception):
    pass


def files_of(folder: Path) -> list[str]:
    """The folder's files that .gitignore (and git's own exclusions) keep, sorted."""
    with tempfile.TemporaryDirectory() as empty:
        subprocess.run(["git", "init", "-q", "--bare", empty], check=True, capture_output=True)
        done = subprocess.run(
            [
                "git",
                f"--git-dir={empty}",
                f"--work-tree={folder}",
                "ls-files",
                "-z",
                "--others",
                "--exclude-standard",
            ],
            cwd=folder,
            capture_output=True,
        )
    if done.returncode != 0:
        raise PackError(done.stderr.decode(errors="replace").strip() or "git ls-files failed")
    return sorted(name for name in done.stdout.decode().split("\0") if name)


def checkout_files(folder: Path) -> list[str]:
    """A git checkout's working tree as it stands: its tracked files that are there (changed or
    not) and the untracked ones .gitignore keeps, sorted; .git left out."""
    done = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=folder,
        capture_output=True,
    )
    if done.returncode != 0:
        raise PackError(done.stderr.decode(errors="replace").strip() or "git ls-files failed")
    names = sorted({name for name in done.stdout.decode().split("\0") if name})
    present = [name for name in names if (folder / name).is_symlink() or (folder / name).is_file()]
    if links := [name for name in present if (folder / name).is_symlink()]:
        raise PackError(f"a snapshot holds plain files only, and {links[0]} is a symbolic link")
    return present


def pack(folder: str, names: list[str] | None = None) -> bytes:
    """The folder (or those of its files named) as a reproducible .tar.gz: sorted names, no times,
    owners or modes but +x."""
    root = Path(folder)
    if not root.is_dir():
        raise PackError(f"{folder} is not a folder")
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w") as tar,
    ):
        for name in files_of(root) if names is None else names:
            path = root / name
            if path.is_symlink() or not path.is_file():
                continue
            info = tarfile.TarInfo(name)
            info.size = path.stat().st_size
            info.mode = 0o755 if os.access(path, os.X_OK) else 0o644
            with open(path, "rb") as file:
                tar.addfile(info, file)
    return buffer.getvalue()


def upload(client: Api, project: str, folder: str, *, data: bytes | None = None) -> tuple[str, bool]:
    """(digest, uploaded): the folder's snapshot (or ``data``, one packed already), sent only if
    the project lacks it."""
    data = pack(folder) if data is None else data
    digest = hashlib.sha256(data).hexdigest()
    path = f"projects/{project}/snapshots/{digest}/"
    try:
        client.get(path)
        return digest, False
    except ApiError as error:
        if error.status != 404:
            raise
    client.request("PUT", path, body=(data, "application/octet-stream"))
    return digest, True
