"""The local backend's sandbox: whether bubblewrap (``bwrap``) can isolate jobs on this machine,
and the bwrap command line that runs one job (the runner puts the job's command after it).

Where bwrap works, every job runs in a sandbox of its own (``sandbox_args``): a PID namespace (it
sees no other process of the machine), and a file system where only its own folder is writable,
the system, the Python installation and the portal's source are read-only, and the rest (the
portal's ``VAR_DIR`` with its database and every other job, the user's home, the job's own
``.taller/``) is not there. Without bwrap jobs run unisolated, as the portal's user: allowed with
``DEBUG`` on (one person's machine), refused with it off unless the operator says
``TALLER_LOCAL_EXECUTOR_UNISOLATED=true`` (see ``isolation_problem``).
"""

import functools
import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

from django.conf import settings

# What a sandboxed job sees of the machine, read-only, besides the Python installation, the
# portal's source and TALLER_LOCAL_READ_ONLY_PATHS; a symbolic link stays a link (merged /usr).
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/sys")
# Devices a job may need beyond bwrap's minimal /dev (GPUs of the machine, if any).
DEVICE_PATTERNS = ("/dev/nvidia*", "/dev/dri")


@functools.cache
def _bwrap_works(bwrap: str) -> bool:
    """Can this process start a bwrap sandbox (is it installed, and are user namespaces allowed)?"""
    try:
        result = subprocess.run(
            [bwrap, "--unshare-pid", "--die-with-parent", "--ro-bind", "/", "/", "--", "true"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
            env={"PATH": os.defpath},
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0


def bwrap_path() -> str | None:
    """The bwrap that isolates jobs here, or None when there is none that works."""
    configured = settings.TALLER_LOCAL_BWRAP
    found = shutil.which(configured) if configured else None
    return found if found and _bwrap_works(found) else None


def isolation_problem() -> str | None:
    """Why the local executor must not run here, or None: unisolated jobs (no working bwrap) are
    for one person's machine, so with DEBUG off they need the operator's explicit opt-in."""
    if settings.DEBUG or settings.TALLER_LOCAL_EXECUTOR_UNISOLATED or bwrap_path():
        return None
    # English, like the backend's other errors: it becomes a job's stored reason.
    return (
        "The local executor cannot isolate jobs here (bubblewrap's bwrap is missing or cannot "
        "create namespaces): every job would run as the portal's user, able to read other jobs' "
        "files and processes. Install bubblewrap, or set TALLER_LOCAL_EXECUTOR_UNISOLATED=true "
        "if this machine serves one person only."
    )


def _read_only(path: str) -> list[str]:
    if os.path.islink(path):
        return ["--symlink", os.readlink(path), path]
    return ["--ro-bind", path, path] if os.path.exists(path) else []


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def sandbox_args(bwrap: str, folder: Path, control: Path, workdir: Path | None = None) -> list[str]:
    """The bwrap command line (up to the job's command) that runs a job in its own PID namespace
    with only ``folder`` writable, and its control folder, the portal's VAR_DIR, other jobs and
    the rest of the machine's files out of sight; it starts in ``workdir`` (inside ``folder``;
    the folder itself when None)."""
    readable: list[str] = list(SYSTEM_PATHS)
    resolv = os.path.realpath("/etc/resolv.conf")  # often a link into /run (systemd-resolved)
    if not resolv.startswith("/etc/"):
        readable.append(os.path.dirname(resolv))
    readable += [sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(sys.executable))]
    readable += [str(settings.BASE_DIR), *settings.TALLER_LOCAL_READ_ONLY_PATHS]
    # No capabilities even where the portal runs as root (bwrap would keep them there): the job
    # could otherwise unmount what hides the rest of the machine.
    args = [
        bwrap,
        "--unshare-pid",
        "--unshare-ipc",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
    ]
    # A fresh /tmp first: the source or the Python installation may live under the machine's /tmp.
    args += ["--tmpfs", "/tmp"]
    bound: list[Path] = []
    for path in dict.fromkeys(os.path.abspath(p) for p in readable):
        if read_only := _read_only(path):
            args += read_only
            bound.append(Path(path))
    args += ["--proc", "/proc", "--dev", "/dev"]
    for pattern in DEVICE_PATTERNS:
        for device in sorted(glob.glob(pattern)):
            args += ["--dev-bind", device, device]
    var_dir = Path(os.path.abspath(settings.VAR_DIR))
    if any(_inside(var_dir, path) for path in bound):
        args += ["--tmpfs", str(var_dir)]  # the portal's database, broker, logs, other jobs
    folder, control = os.path.abspath(folder), os.path.abspath(control)
    workdir = os.path.abspath(workdir) if workdir else folder
    args += ["--bind", folder, folder, "--tmpfs", control, "--chdir", workdir]
    return [*args, "--remount-ro", "/"]  # the sandbox's own root, where the mount points were made
