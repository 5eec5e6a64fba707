"""The last step of `make run`: the Procfile's processes under supervisord.

``python -m portal.supervise Procfile`` writes a supervisord configuration for the Procfile (which
stays the one list of the processes) into the var folder, then becomes supervisord, in the
foreground, every process's output on this terminal. A process that dies, whatever killed it, is
started again; Ctrl-C (SIGINT) or SIGTERM stops them all, each with its whole process group, and
leaves none behind.
"""

import os
import re
import shlex
import shutil
import sys
from pathlib import Path

NAME = re.compile(r"^[A-Za-z0-9_-]+$")
BASE_DIR = Path(__file__).resolve().parent.parent


class ProcfileError(Exception):
    pass


def read_procfile(path: Path) -> list[tuple[str, str]]:
    """The ``name: command`` lines of a Procfile, in order (blank lines and # comments skipped)."""
    processes = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, colon, command = (part.strip() for part in line.partition(":"))
        if not colon or not NAME.match(name) or not command:
            raise ProcfileError(f"{path}:{number}: expected 'name: command', not {line!r}")
        processes.append((name, command))
    if not processes:
        raise ProcfileError(f"{path}: no processes")
    return processes


def configuration(processes: list[tuple[str, str]], var: Path) -> str:
    """supervisord's configuration: everything on standard output, every process restarted when it
    exits, stopped (and killed after 10 s) with its process group."""
    lines = [
        "[supervisord]",
        "nodaemon=true",
        "logfile=/dev/null",  # in the foreground supervisord logs to standard output anyway
        "logfile_maxbytes=0",
        f"pidfile={var / 'supervisord.pid'}",
        f"childlogdir={var}",
        "loglevel=info",
    ]
    if os.geteuid() == 0:
        lines.append("user=root")  # said outright: supervisord otherwise warns that it keeps root
    for name, command in processes:
        # A shell expands the Procfile's ${VAR:-default}; exec puts the process in its place, so
        # that the stop signal reaches it. supervisord expands %(...)s itself: a % is written %%.
        shell = f"/bin/sh -c {shlex.quote('exec ' + command)}".replace("%", "%%")
        lines += [
            "",
            f"[program:{name}]",
            f"command={shell}",
            "autorestart=true",
            "startsecs=1",
            "startretries=10",
            "stopsignal=TERM",
            "stopwaitsecs=10",
            "stopasgroup=true",
            "killasgroup=true",
            "redirect_stderr=true",
            "stdout_logfile=/dev/stdout",
            "stdout_logfile_maxbytes=0",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m portal.supervise PROCFILE", file=sys.stderr)
        return 2
    try:
        processes = read_procfile(Path(argv[1]))
    except (OSError, ProcfileError) as error:
        print(f"supervise: {error}", file=sys.stderr)
        return 2
    var = Path(os.environ.get("TALLER_VAR_DIR", BASE_DIR / "var")).resolve()  # as the settings
    var.mkdir(parents=True, exist_ok=True)
    config = var / "supervisord.conf"
    config.write_text(configuration(processes, var))
    supervisord = shutil.which("supervisord") or str(Path(sys.executable).with_name("supervisord"))
    os.execv(supervisord, [supervisord, "--configuration", str(config)])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
