"""`taller sweep ...` over real HTTP against a live portal: run a sweep file, list, show, pause,
resume, extend, stop; bad files and refusals are one line on stderr and a non-zero exit."""

import json

import pytest
import yaml
from click.testing import CliRunner

from portal.accounts.actions import create_token
from sweeps.models import Sweep, SweepStatus
from taller_cli.main import cli
from tests.sweeps.conftest import body


@pytest.fixture(autouse=True)
def _as_bob(live_server, personas, tmp_path, monkeypatch, settings):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("TALLER_URL", live_server.url)
    monkeypatch.setenv("TALLER_TOKEN", create_token(personas.bob, "cli")[1])


def taller(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_run_a_sweep_file_and_drive_it(personas, mlflow_uri, tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in body(max_trials=3).items() if k != "project"}))
    started = taller("sweep", "run", "-p", "genomics", str(path))
    assert started.exit_code == 0, started.stderr
    sweep = Sweep.objects.get()
    assert started.stdout.strip() == f"Sweep {sweep.pk} “bowl” started in genomics."

    listed = taller("sweep", "list", "-p", "genomics")
    assert listed.exit_code == 0 and listed.stdout.splitlines()[1].split()[:4] == [
        str(sweep.pk),
        "bowl",
        "genomics",
        "running",
    ]
    shown = taller("sweep", "show", str(sweep.pk), "--json")
    assert json.loads(shown.stdout)["max_trials"] == 3
    assert "best" in taller("sweep", "show", str(sweep.pk)).stdout

    assert taller("sweep", "pause", str(sweep.pk)).exit_code == 0
    assert Sweep.objects.get().status == SweepStatus.PAUSED
    again = taller("sweep", "pause", str(sweep.pk))
    assert again.exit_code == 1 and again.stderr.splitlines() == [
        "taller: error: status: The sweep is paused. (HTTP 400)"
    ]
    assert taller("sweep", "resume", str(sweep.pk)).exit_code == 0
    extended = taller("sweep", "extend", str(sweep.pk), "2")
    assert extended.exit_code == 0 and "up to 5 trials" in extended.stdout
    assert taller("sweep", "stop", str(sweep.pk)).exit_code == 0
    assert Sweep.objects.get().status == SweepStatus.STOPPED


def test_bad_files_are_one_line(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(body(max_parallel=0)))
    refused = taller("sweep", "run", str(path))
    assert refused.exit_code == 1 and len(refused.stderr.splitlines()) == 1
    assert "max_parallel" in refused.stderr
    path.write_text("space: [")
    broken = taller("sweep", "run", str(path))
    assert broken.exit_code == 1 and len(broken.stderr.splitlines()) == 1 and "not YAML" in broken.stderr
    path.write_text(yaml.safe_dump({k: v for k, v in body().items() if k != "project"}))
    nowhere = taller("sweep", "run", str(path))
    assert nowhere.exit_code == 1 and "say which project" in nowhere.stderr
    assert not Sweep.objects.exists()
