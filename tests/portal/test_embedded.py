"""The embedded default, started the way `make run` starts it: migrate, seed the demo, honcho + Procfile.

No DATABASE_URL, broker or cache in the environment: SQLite, the filesystem broker and MLflow's store all
live in a temporary var folder, and the web server and MLflow listen on free ports.
"""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def descendants(pid: int) -> set[int]:
    """Every process below pid (children start their own sessions, so a process group is not enough)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def embedded_env(tmp_path) -> dict:
    var = tmp_path / "var"
    for folder in [
        "celery/queue",
        "celery/processed",
        "celery/control",
        "jobs",
        "mlartifacts",
        "cache",
    ]:  # as `make var`
        (var / folder).mkdir(parents=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {
            "DATABASE_URL",
            "CELERY_BROKER_URL",
            "CACHE_URL",
            "MLFLOW_TRACKING_URI",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
        }
    }
    env.update(
        TALLER_VAR_DIR=str(var),
        TALLER_PORT=str(free_port()),
        TALLER_MLFLOW_PORT=str(free_port()),
        PATH=f"{BIN}:{env['PATH']}",  # as `make run`: the Procfile finds python, celery and mlflow there
    )
    return env


@pytest.mark.slow
def test_make_run_serves_the_portal_and_stops_cleanly(embedded_env, tmp_path):
    for command in (["migrate", "--noinput"], ["seed_demo"]):
        result = subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=embedded_env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
    assert "demo/demo" in result.stdout
    assert (Path(embedded_env["TALLER_VAR_DIR"]) / "taller.sqlite3").exists()

    log = open(tmp_path / "honcho.log", "wb")  # noqa: SIM115 - closed below
    honcho = subprocess.Popen(
        [str(BIN / "honcho"), "start", "-f", "Procfile"],
        cwd=ROOT,
        env=embedded_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{embedded_env['TALLER_PORT']}"
    children: set[int] = set()
    try:
        deadline = time.monotonic() + 240
        health = None
        while time.monotonic() < deadline and honcho.poll() is None:
            children |= descendants(honcho.pid)
            try:
                health = requests.get(f"{base}/healthz", timeout=5)
                if health.status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(1)
        assert health is not None and health.status_code == 200, (tmp_path / "honcho.log").read_text()[-3000:]
        assert health.json() == {
            "status": "ok",
            "database": "ok",
            "broker": "ok",
            "mlflow": "ok",
            "static": "ok",
        }
        children |= descendants(honcho.pid)

        session = requests.Session()
        login = session.get(f"{base}/accounts/login/", timeout=10)
        assert login.status_code == 200 and "Sign in" in login.text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
        response = session.post(
            f"{base}/accounts/login/",
            data={"username": "demo", "password": "demo", "csrfmiddlewaretoken": token},
            headers={"Referer": f"{base}/accounts/login/"},
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code == 302 and response.headers["Location"] == "/"
        dashboard = session.get(f"{base}/", timeout=10)
        assert "Demo project" in dashboard.text and "demo" in dashboard.text
    finally:
        os.killpg(honcho.pid, signal.SIGINT)  # Ctrl-C in the terminal of `make run`
        try:
            honcho.wait(timeout=60)
        finally:
            if honcho.poll() is None:
                os.killpg(honcho.pid, signal.SIGKILL)
            log.close()
    output = (tmp_path / "honcho.log").read_text()
    for name in ("web", "worker", "mlflow"):
        assert re.search(rf"^\S+ {name}\.1 +\| ", output, re.M), f"{name} did not start"
    assert len(children) >= 3
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(alive(pid) for pid in children):
        time.sleep(0.5)
    assert not [pid for pid in children if alive(pid)], "processes left behind after Ctrl-C"
