"""A code snapshot (.tar.gz) checked and unpacked: ``python -m clusterjobs.sources.unpack ARCHIVE
FOLDER``, the local runner's "unpack" step. Standard library only. Only regular files and folders
inside the archive's own tree are accepted (no links, devices, absolute paths or "..")."""

import sys
import tarfile
from pathlib import PurePosixPath


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


def unpack(path: str, folder: str) -> int:
    with tarfile.open(path, "r:gz") as archive:
        safe = members(archive)
        archive.extractall(folder, members=safe, filter="data")
    return sum(1 for member in safe if member.isfile())


if __name__ == "__main__":
    try:
        count = unpack(sys.argv[1], sys.argv[2])
    except (OSError, tarfile.TarError, UnsafeArchive) as error:
        print(f"taller: could not unpack the code snapshot: {error}", flush=True)
        sys.exit(1)
    print(f"taller: unpacked {count} files of the code snapshot", flush=True)
