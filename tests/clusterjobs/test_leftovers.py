"""A test that fails part-way leaves no job process behind: the local jobs a test started end with
it (tests/conftest.py), not only when it reaches its own cancel step. Checked on a real pytest run
of a test that starts `sleep 600` on the local backend and fails before stopping it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import kill_local_jobs

ROOT = Path(__file__).resolve().parents[2]

FAILING_TEST = """
import os
import time
from decimal import Decimal
from pathlib import Path

from clusterjobs.backends import get_backend
from clusterjobs.backends.base import JobSpec
from clusterjobs.request import JobRequest

pytest_plugins = ["tests.conftest"]


def test_fails_before_its_cancel_step(settings):
    backend = get_backend("local")
    asked = JobRequest(
        name="t", image="python:3.11-slim", command=["sleep", "600"], cpu=Decimal(1), memory_mib=64
    )
    spec = JobSpec(job_id=1, project="p", uid="u-1", request=asked, env={})
    backend.submit(spec)
    Path(os.environ["RECORD_VAR_DIR"]).write_text(str(settings.VAR_DIR))
    deadline = time.monotonic() + 60
    while backend.status(1, "p").phase != "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert backend.status(1, "p").phase != "running", "the job runs; now the test fails"
"""


def job_processes(var: Path) -> list[str]:
    """Command lines of the processes working in the job folders under ``var``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and os.readlink(proc / "cwd").startswith(str(var / "jobs")):
                found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_a_failing_test_leaves_no_job_running(tmp_path):
    (tmp_path / "test_inner.py").write_text(FAILING_TEST)
    record = tmp_path / "var_dir.txt"
    inner = subprocess.run(
        [sys.executable, "-m", "pytest", str(tmp_path / "test_inner.py"), "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env={**os.environ, "RECORD_VAR_DIR": str(record)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "1 failed" in inner.stdout, inner.stdout + inner.stderr
    assert "the job runs; now the test fails" in inner.stdout
    var = Path(record.read_text())
    try:
        assert job_processes(var) == []
    finally:
        kill_local_jobs(var)  # what the inner test left, if it did
