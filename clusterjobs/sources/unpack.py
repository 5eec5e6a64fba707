"""A code snapshot (.tar.gz) checked and unpacked: ``python -m clusterjobs.sources.unpack ARCHIVE
FOLDER [--digest SHA256] [--replace]``, the local runner's "unpack" step. Standard library only.
Only regular files and folders inside the archive's own tree are accepted (no links, devices,
absolute paths or ".."). ``--replace`` (a snapshot on top of a checkout) first empties the folder
but for its .git, so the tree is exactly the snapshot's."""

import hashlib
import shutil
import sys
import tarfile
from pathlib import Path, PurePosixPath


class UnsafeArchive(Exception):
    pass


def members(archive: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """The archive's members, or UnsafeArchive naming the first one that could escape its folder."""
    found = []
    for member in archive.getmembers():
        path = PurePosixPath(member.name)
        if path.is_absolute() or ".." in path.parts or not (member.isfile() or member.isdir()):
            raise UnsafeArchive(f"{member.name}: only plain files and folders inside the archive")
        found.append(member)
    return found


def check(path: str) -> int:
    """The number of files of a valid, safe archive; UnsafeArchive or tarfile.TarError otherwise."""
    with tarfile.open(path, "r:gz") as archive:
        return sum(1 for member in members(archive) if member.isfile())


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def empty_but_git(folder: str) -> None:
    for entry in Path(folder).iterdir():
        if entry.name == ".git":
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def unpack(path: str, folder: str, *, digest: str = "", replace: bool = False) -> int:
    if digest and (found := sha256_of(path)) != digest:
        raise UnsafeArchive(f"its SHA-256 is {found}, not {digest}")
    if replace:
        empty_but_git(folder)
    with tarfile.open(path, "r:gz") as archive:
        safe = members(archive)
        archive.extractall(folder, members=safe, filter="data")
    return sum(1 for member in safe if member.isfile())


if __name__ == "__main__":
    options = sys.argv[3:]
    named = options[options.index("--digest") + 1] if "--digest" in options else ""
    try:
        count = unpack(sys.argv[1], sys.argv[2], digest=named, replace="--replace" in options)
    except (OSError, tarfile.TarError, UnsafeArchive) as error:
        print(f"taller: could not unpack the code snapshot: {error}", flush=True)
        sys.exit(1)
    print(f"taller: unpacked {count} files of the code snapshot", flush=True)
