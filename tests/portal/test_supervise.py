"""`python -m portal.supervise`: the Procfile read as it is written, and refused with one line when
it cannot be (the embedded tests run the real thing)."""

import configparser
import shlex
import subprocess
import sys
from pathlib import Path

from portal.supervise import configuration, read_procfile

ROOT = Path(__file__).resolve().parents[2]


def test_every_process_of_the_procfile_is_supervised_and_restarted(tmp_path):
    processes = read_procfile(ROOT / "Procfile")
    assert {"web", "worker", "beat", "watcher", "mlflow"} <= {name for name, _command in processes}
    config = configparser.ConfigParser()  # interpolates %(...)s and %% as supervisord does
    config.read_string(configuration(processes, tmp_path))
    assert config["supervisord"]["nodaemon"] == "true"
    for name, command in processes:
        program = config[f"program:{name}"]
        assert (program["autorestart"], program["stopasgroup"], program["killasgroup"]) == ("true",) * 3
        # Through a shell (for ${TALLER_PORT:-8000}), which exec replaces by the process itself.
        assert shlex.split(program["command"]) == ["/bin/sh", "-c", f"exec {command}"]


def test_a_percent_sign_reaches_the_process_as_it_is(tmp_path):
    procfile = tmp_path / "Procfile"
    procfile.write_text("# comment\n\nclock: date +%H:%M\n")
    config = configparser.ConfigParser()  # interpolates %(...)s and %% as supervisord does
    config.read_string(configuration(read_procfile(procfile), tmp_path))
    assert shlex.split(config["program:clock"]["command"])[-1] == "exec date +%H:%M"


def test_a_broken_procfile_is_one_line_on_stderr(tmp_path):
    procfile = tmp_path / "Procfile"
    procfile.write_text("web: python manage.py runserver\nthis line has no name\n")
    done = subprocess.run(
        [sys.executable, "-m", "portal.supervise", str(procfile)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"supervise: {procfile}:2: expected 'name: command', not 'this line has no name'"
    ]
