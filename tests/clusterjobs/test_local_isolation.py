"""What a local job can reach, with the real local backend and real processes: nothing of another
job (its files, its token, its secret values), nothing of the portal (its environment, its
processes, its VAR_DIR), and, in bwrap's sandbox, nothing writable but its own folder. Without a
working bwrap the executor runs jobs unisolated only on one person's machine (DEBUG on) or when
the operator opts in."""

import json
import os
import textwrap
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.checks import run_checks

from clusterjobs.backends import BackendError, JobSpec
from clusterjobs.backends.local import LocalBackend
from clusterjobs.backends.local_sandbox import bwrap_path
from clusterjobs.request import JobRequest

SECRET = "hunter2-secret-value"
TOKEN = "tlr_job-one-token-value"
PORTAL_SECRET = "portal-secret-key-value"


def spec(job_id: int, code: str, env: dict | None = None, secret_names: tuple = ()) -> JobSpec:
    return JobSpec(
        job_id=job_id,
        project="genomics",
        uid=f"{job_id}-test",
        request=JobRequest(
            name="test",
            image="python:3.11-slim",
            command=["python", "-c", textwrap.dedent(code)],
            cpu=Decimal("1"),
            memory_mib=512,
        ),
        env=env or {},
        time_limit_seconds=120,
        secret_names=secret_names,
    )


@pytest.fixture
def backend(settings, monkeypatch):
    settings.TALLER_LOCAL_KILL_GRACE_SECONDS = 2
    settings.TALLER_LOCAL_POLL_SECONDS = 0.1
    # What a portal process holds: the runner must inherit none of it.
    monkeypatch.setenv("SECRET_KEY", PORTAL_SECRET)
    monkeypatch.setenv("DATABASE_URL", "postgres://portal:db-password@127.0.0.1/taller")
    backend = LocalBackend()
    yield backend
    for job_id in backend.job_ids():  # none left running, whatever a failed assertion skipped
        backend.cancel(job_id, "")


@pytest.fixture(params=["sandboxed", "unisolated"])
def mode(request, settings) -> str:
    """Both ways the executor runs: in bwrap's sandbox, and without (the operator's opt-in)."""
    if request.param == "unisolated":
        settings.TALLER_LOCAL_BWRAP = ""
        settings.TALLER_LOCAL_EXECUTOR_UNISOLATED = True
    else:
        assert bwrap_path(), "bubblewrap is needed here: make test installs it"
    return request.param


def wait_running(backend: LocalBackend, job_id: int) -> dict:
    deadline = time.monotonic() + 30
    while (status := backend.status(job_id, "")).phase != "running":
        assert status.phase == "pending", (status, backend.logs(job_id, ""))
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return json.loads((backend.control(job_id) / "runner.json").read_text())


def finished(backend: LocalBackend, job_id: int) -> list[str]:
    status = backend.wait(job_id, 60)
    assert status.phase == "succeeded", backend.logs(job_id, "")
    return backend.logs(job_id, "")


def start_victim(backend: LocalBackend) -> int:
    """Job 1: holds a token and a secret variable, and keeps running."""
    env = {"API_KEY": SECRET, "MLFLOW_TRACKING_TOKEN": TOKEN, "SEED": "1"}
    backend.submit(spec(1, "import time; time.sleep(60)", env, ("API_KEY", "MLFLOW_TRACKING_TOKEN")))
    return wait_running(backend, 1)["pid"]


# Job 2 looks everywhere a job of the same machine could: job 1's folder, the portal's VAR_DIR,
# /proc/<pid>/environ of the portal (this test process), of job 1's runner and of its own parent.
SNOOP = """
    import os, sys
    found = []
    def look(path):
        try:
            data = open(path, "rb").read()
        except OSError:
            return
        for word in (b"%(secret)s", b"%(token)s", b"%(portal)s", b"DATABASE_URL", b"db-password"):
            if word in data:
                found.append(f"{word.decode()} in {path}")
    for top in (os.environ["VICTIM"], os.environ["VAR"]):
        for folder, _dirs, files in os.walk(top):
            for name in files:
                look(os.path.join(folder, name))
    for pid in (os.environ["PORTAL_PID"], os.environ["VICTIM_RUNNER"], str(os.getppid())):
        look(f"/proc/{pid}/environ")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        look(f"/proc/{pid}/environ") if pid != str(os.getpid()) else None
    print("victim folder visible:", os.path.exists(os.environ["VICTIM"]))
    print("found:", found)
"""


def test_a_job_reads_nothing_of_another_job_or_of_the_portal(backend, settings):
    """In the sandbox. (Unisolated, a job can read /proc/<pid>/environ of every process of the
    portal's user: the README says so, and DEBUG off needs the operator's opt-in.)"""
    assert bwrap_path(), "bubblewrap is needed here: make test installs it"
    runner = start_victim(backend)
    env = {
        "VICTIM": str(backend.folder(1)),
        "VAR": str(settings.VAR_DIR),
        "PORTAL_PID": str(os.getpid()),
        "VICTIM_RUNNER": str(runner),
    }
    code = SNOOP % {"secret": SECRET, "token": TOKEN, "portal": PORTAL_SECRET}
    backend.submit(spec(2, code, env))
    lines = finished(backend, 2)
    assert lines == ["victim folder visible: False", "found: []"]
    backend.cancel(1, "")


def test_no_token_or_secret_value_is_kept_in_a_file(backend, mode, settings):
    start_victim(backend)
    for path in Path(settings.VAR_DIR).rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert SECRET.encode() not in data and TOKEN.encode() not in data, path
    backend.cancel(1, "")


def test_the_runner_inherits_nothing_of_the_portal(backend, mode):
    runner = start_victim(backend)
    environ = Path(f"/proc/{runner}/environ").read_bytes().split(b"\0")
    names = {entry.split(b"=", 1)[0].decode() for entry in environ if entry}
    assert names <= {"PATH", "LANG", "PYTHONPATH"}, names
    assert all(SECRET.encode() not in entry and TOKEN.encode() not in entry for entry in environ)
    backend.cancel(1, "")


def test_a_job_gets_only_its_own_variables(backend, mode, settings):
    code = "import os, json; print(json.dumps(dict(os.environ)))"
    backend.submit(spec(3, code, {"SEED": "7", "API_KEY": SECRET}, ("API_KEY",)))
    env = json.loads(finished(backend, 3)[0])
    folder = str(backend.folder(3))
    assert env.pop("PATH").split(os.pathsep)[0] == os.path.dirname(os.sys.executable)
    assert env.pop("PWD", folder) == folder  # bwrap sets it
    assert env == {
        "HOME": folder,
        "TMPDIR": f"{folder}/tmp",
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(settings.BASE_DIR),
        "TALLER_SOURCE_DIR": str(settings.BASE_DIR),
        "SEED": "7",
        "API_KEY": SECRET,
    }


WRITES = """
    import os
    print("portal files:", sorted(os.listdir(os.environ["VAR"])))
    def attempt(path):
        try:
            with open(path, "w") as file:
                file.write("x")
            return "wrote"
        except OSError as error:
            return type(error).__name__
    for path in os.environ["TARGETS"].split(","):
        print(path, attempt(path))
    print("processes:", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
    print([line for line in open("/proc/self/status") if line.startswith("CapEff")][0].strip())
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    print("unmount control:", libc.umount2(os.path.join(os.getcwd(), ".taller").encode(), 2))
    import sklearn, mlflow, examples.train  # the job's Python and the portal's example still work
    print("imports ok")
"""


def test_in_the_sandbox_only_its_own_folder_is_writable(backend, settings):
    assert bwrap_path(), "bubblewrap is needed here: make test installs it"
    (Path(settings.VAR_DIR) / "taller.sqlite3").write_text("the portal's database")
    folder = backend.folder(4)
    mark = f"written-by-a-job-{uuid.uuid4().hex}.txt"  # files no earlier run can have left
    targets = {
        "own": folder / "result.txt",
        "own tmp": folder / "tmp" / "scratch.txt",
        "control": folder / ".taller" / "status.json",
        "portal var": Path(settings.VAR_DIR) / "taller.sqlite3",
        "source": Path(settings.BASE_DIR) / mark,
        "home": Path.home() / mark,
        "tmp": Path("/tmp") / mark,
    }
    env = {"TARGETS": ",".join(str(p) for p in targets.values()), "VAR": str(settings.VAR_DIR)}
    backend.submit(spec(4, WRITES, env))
    lines = finished(backend, 4)
    assert lines.pop(0) == "portal files: ['jobs']"  # only the way to its own folder
    results = dict(line.rsplit(" ", 1) for line in lines[: len(targets)])
    outcome = {name: results[str(path)] for name, path in targets.items()}
    assert outcome["own"] == outcome["own tmp"] == "wrote"
    assert (folder / "result.txt").read_text() == "x"
    assert outcome["source"] == outcome["home"] == "OSError"  # read-only, or not there at all
    # Its control folder, the portal's VAR_DIR and /tmp are empty throwaway folders in the
    # sandbox: what the job writes there changes nothing outside.
    assert (Path(settings.VAR_DIR) / "taller.sqlite3").read_text() == "the portal's database"
    for name in ("source", "home", "tmp"):
        assert not targets[name].exists(), name
    assert json.loads((backend.control(4) / "status.json").read_text())["phase"] == "succeeded"
    processes = lines[len(targets)]
    assert processes.startswith("processes: [1, 2")  # its own PID namespace: bwrap's init, the job
    # No capability, even where the portal runs as root: it cannot unmount what hides the rest.
    assert lines[len(targets) + 1].split() == ["CapEff:", "0000000000000000"]
    assert lines[len(targets) + 2] == "unmount control: -1"
    assert lines[-1] == "imports ok"


def test_without_bwrap_and_debug_off_the_executor_refuses(backend, settings):
    settings.TALLER_LOCAL_BWRAP = ""
    settings.DEBUG = False
    settings.TALLER_EXECUTOR = "local"
    with pytest.raises(BackendError) as error:
        backend.submit(spec(5, "print('hi')"))
    assert error.value.permanent and "TALLER_LOCAL_EXECUTOR_UNISOLATED=true" in str(error.value)
    assert not backend.folder(5).exists()
    assert [message.id for message in run_checks()] == ["clusterjobs.E004"]


@pytest.mark.parametrize("setting", ["DEBUG", "TALLER_LOCAL_EXECUTOR_UNISOLATED"])
def test_without_bwrap_the_executor_runs_on_one_persons_machine_or_with_the_opt_in(
    backend, settings, setting
):
    settings.TALLER_LOCAL_BWRAP = "no-such-bwrap"
    settings.DEBUG = False
    settings.TALLER_EXECUTOR = "local"
    setattr(settings, setting, True)
    assert run_checks() == []
    backend.submit(spec(6, "import os; print(os.getcwd())"))
    assert finished(backend, 6) == [str(backend.folder(6))]
    assert json.loads((backend.control(6) / "spec.json").read_text())["sandbox"] == []


def test_with_bwrap_the_check_passes_and_the_kubernetes_executor_needs_none(settings):
    settings.DEBUG = False
    assert bwrap_path()
    assert run_checks() == []
    settings.TALLER_LOCAL_BWRAP = ""
    settings.TALLER_EXECUTOR = "kubernetes"
    assert run_checks() == []


def _manage_check(**env: str):
    """``manage.py check`` as an operator runs it: production settings, the local executor."""
    import secrets
    import subprocess
    import sys

    base = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    base.update(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="taller.example.org",
        DATABASE_URL="postgres://taller@db.example.org:5432/taller",
        TALLER_EXECUTOR="local",
        **env,
    )
    root = Path(__file__).resolve().parents[2]
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=root,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_portal_refuses_to_start_unisolated_with_debug_off_unless_told():
    refused = _manage_check(TALLER_LOCAL_BWRAP="")
    assert refused.returncode != 0
    assert "clusterjobs.E004" in refused.stderr and "TALLER_LOCAL_EXECUTOR_UNISOLATED" in refused.stderr
    assert _manage_check(TALLER_LOCAL_BWRAP="", TALLER_LOCAL_EXECUTOR_UNISOLATED="true").returncode == 0
    assert _manage_check().returncode == 0  # bwrap works here
