"""The local backend with real processes: exit codes, environment, time limit, cancel, logs,
idempotent submit, a dead runner, and the watch stream."""

import json
import os
import signal
import sys
import threading
import time
from decimal import Decimal

import pytest

from clusterjobs.backends import BackendError, JobSpec
from clusterjobs.backends.local import LocalBackend
from clusterjobs.request import JobRequest


def spec(job_id: int, command: list[str], **kwargs) -> JobSpec:
    return JobSpec(
        job_id=job_id,
        project="genomics",
        uid=kwargs.pop("uid", f"{job_id}-test"),
        request=JobRequest(
            name="test", image="python:3.11-slim", command=command, cpu=Decimal("1"), memory_mib=512
        ),
        env=kwargs.pop("env", {}),
        time_limit_seconds=kwargs.pop("time_limit_seconds", 60),
    )


@pytest.fixture
def backend(settings) -> LocalBackend:
    settings.TALLER_LOCAL_KILL_GRACE_SECONDS = 2
    settings.TALLER_LOCAL_POLL_SECONDS = 0.1
    return LocalBackend()


def test_success_with_env_cwd_and_logs(backend, settings):
    code = (
        "import os, sys; print('hello', os.environ['GREETING']); print(os.getcwd());"
        "print(sys.executable); print('DATABASE_URL' in os.environ); import sklearn, mlflow"
    )
    backend.submit(spec(1, ["python", "-c", code], env={"GREETING": "world"}))
    status = backend.wait(1, 60)
    assert (status.phase, status.exit_code, status.reason) == ("succeeded", 0, "exited with code 0")
    assert status.started_at and status.finished_at and status.finished_at >= status.started_at
    lines = backend.logs(1, "genomics")
    assert lines[0] == "hello world"
    assert lines[1] == str(settings.VAR_DIR / "jobs" / "1")
    assert os.path.dirname(lines[2]) == os.path.dirname(sys.executable)
    assert lines[3] == "False"  # the portal's own environment does not leak into jobs
    assert backend.logs(1, "genomics", tail=2) == lines[-2:]


def test_exit_code_recorded(backend):
    backend.submit(spec(2, ["python", "-c", "import sys; print('bad'); sys.exit(3)"]))
    status = backend.wait(2, 60)
    assert (status.phase, status.exit_code, status.reason) == ("failed", 3, "exited with code 3")


def test_command_not_found(backend):
    backend.submit(spec(3, ["no-such-program-here"]))
    status = backend.wait(3, 60)
    assert status.phase == "failed" and status.exit_code == 127
    assert "could not start 'no-such-program-here'" in status.reason


def test_time_limit_sigterm_then_sigkill(backend):
    # The job ignores SIGTERM: the runner kills it after the grace period.
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
    started = time.monotonic()
    backend.submit(spec(4, ["python", "-c", code], time_limit_seconds=2))
    status = backend.wait(4, 30)
    assert status.phase == "failed"
    assert status.reason == "time limit of 2 seconds exceeded (killed by SIGKILL (out of memory?))"
    assert status.exit_code == 137
    assert time.monotonic() - started < 20


def test_time_limit_polite_job_stops_on_sigterm(backend):
    backend.submit(spec(5, ["sleep", "60"], time_limit_seconds=1))
    status = backend.wait(5, 30)
    assert (status.phase, status.exit_code) == ("failed", 143)
    assert status.reason.startswith("time limit of 1 second exceeded (killed by SIGTERM")


def test_cancel_stops_the_process_group(backend):
    # The job starts a grandchild; cancel must stop it too (the whole process group).
    code = (
        "import subprocess, time; p = subprocess.Popen(['sleep', '120']); open('started', 'w').close();"
        "print('running', flush=True); time.sleep(120)"
    )
    backend.submit(spec(6, ["python", "-c", code]))
    marker = backend.folder(6) / "started"
    deadline = time.monotonic() + 30
    while not marker.exists() or backend.status(6, "").phase != "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    group = backend.status(6, "").extra["pid"]
    grandchildren = [pid for pid in _group_members(group) if _cmdline(pid) == ["sleep", "120"]]
    assert len(grandchildren) == 1
    backend.cancel(6, "genomics")
    status = backend.wait(6, 30)
    assert status.phase == "failed" and status.reason.startswith("cancelled (killed by SIGTERM")
    time.sleep(0.3)
    assert _zombie(grandchildren[0]), "the job's grandchild outlived the cancel"
    assert backend.logs(6, "genomics") == ["running"]
    backend.cancel(6, "genomics")  # an ended job: not an error
    backend.cancel(99, "genomics")  # an unknown job: not an error


def _group_members(group: int) -> list[int]:
    """The pids (as this process sees them) of the processes in a process group."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            if int(stat[2]) == group:
                members.append(int(entry))
    return members


def _cmdline(pid: int) -> list[str]:
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().decode().split("\0")[:-1]
    except FileNotFoundError:
        return []


def _zombie(pid: int) -> bool:
    """Gone, or a zombie waiting to be reaped: either way no longer running."""
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_submit_is_idempotent_for_the_same_uid(backend):
    job = spec(7, ["python", "-c", "import time; print('once', flush=True); time.sleep(1)"])
    backend.submit(job)
    backend.submit(job)  # a retried dispatch: success, and nothing started twice
    assert backend.wait(7, 30).phase == "succeeded"
    backend.submit(job)
    assert backend.logs(7, "") == ["once"]


def test_submit_with_another_uid_is_a_permanent_error(backend):
    backend.submit(spec(8, ["true"]))
    with pytest.raises(BackendError) as error:
        backend.submit(spec(8, ["true"], uid="8-other"))
    assert error.value.permanent
    assert "already exists" in str(error.value)


def test_missing_job(backend):
    assert backend.status(404, "").phase == "missing"
    assert backend.logs(404, "") == []


def test_dead_runner_without_final_status_is_failed(backend):
    backend.submit(spec(9, ["sleep", "60"]))
    deadline = time.monotonic() + 30
    while backend.status(9, "").phase != "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    control = backend.control(9)
    runner = json.loads((control / "runner.json").read_text())["pid"]
    job_pid = json.loads((control / "status.json").read_text())["pid"]
    os.kill(runner, signal.SIGKILL)  # the runner dies (machine trouble): no final status
    deadline = time.monotonic() + 10
    while backend.status(9, "").phase == "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    status = backend.status(9, "")
    assert status.phase == "failed" and "runner stopped" in status.reason
    backend.cancel(9, "")  # kills the orphaned job directly
    time.sleep(0.2)
    assert _zombie(job_pid) or not os.path.exists(f"/proc/{job_pid}")


def test_watch_yields_changes_until_stopped(backend):
    stop = threading.Event()
    seen = []

    def follow():
        for status in backend.watch(stop):
            seen.append((status.job_id, status.phase))

    thread = threading.Thread(target=follow)
    thread.start()
    try:
        backend.submit(spec(10, ["python", "-c", "import time; time.sleep(1)"]))
        deadline = time.monotonic() + 30
        while (10, "succeeded") not in seen:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert (10, "running") in seen
    assert seen.index((10, "running")) < seen.index((10, "succeeded"))
    assert seen.count((10, "succeeded")) == 1
