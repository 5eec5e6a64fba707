"""A ``serve_models`` killed with SIGKILL (no handler runs) leaves no model server behind: each
server, a real ``mlflow models serve`` with its uvicorn workers in a process group of its own, is
told to stop when the process that started it dies (deployments.local.spawn)."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_model_servers_die_with_the_process_that_started_them(tmp_path):
    import mlflow.sklearn
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    digits = load_digits()
    model = tmp_path / "model"
    mlflow.sklearn.save_model(LogisticRegression(max_iter=300).fit(digits.data, digits.target), str(model))
    port = free_port()
    # The parent does what serve_models does for each server: deployments.local.spawn, from its
    # one thread; then it waits, as serve_models waits between two looks.
    script = textwrap.dedent(
        f"""
        import os, sys, time
        from pathlib import Path
        import django
        django.setup()
        from deployments.local import mlflow_command, spawn
        env = {{"PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
               "HOME": {str(tmp_path)!r}}}
        command = [mlflow_command(), "models", "serve", "-m", {str(model)!r}, "--env-manager", "local",
                   "-h", "127.0.0.1", "-p", "{port}", "-w", "2"]
        server = spawn(command, env, Path({str(tmp_path / "server.log")!r}), Path({str(tmp_path)!r}))
        print(server.pid, flush=True)
        time.sleep(600)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "portal.settings"}
    parent = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    group = 0
    try:
        group = int(parent.stdout.readline())
        url = f"http://127.0.0.1:{port}/ping"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if requests.get(url, timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.5)
        else:
            raise AssertionError((tmp_path / "server.log").read_text()[-2000:])

        parent.kill()  # SIGKILL: nothing of the parent runs any more
        parent.wait(timeout=10)
        deadline = time.monotonic() + 30
        while group_alive(group) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not group_alive(group), "the model server outlived the process that started it"
        with pytest.raises(requests.ConnectionError):
            requests.get(url, timeout=2)
    finally:
        if parent.poll() is None:
            parent.kill()
        if group and group_alive(group):
            os.killpg(group, signal.SIGKILL)
