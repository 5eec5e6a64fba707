"""The embedded default, started the way `make run` starts it: migrate, seed the demo, then
`python -m portal.supervise Procfile` (supervisord running the Procfile's web, worker, beat, watcher
and mlflow), with the same PATH and the default intervals.

No DATABASE_URL, broker or cache in the environment: SQLite, the filesystem broker and MLflow's store
all live in a temporary var folder, and the web server and MLflow listen on free ports. One portal
serves the tests of this module, in order: it signs a user in; holds 30 submissions from 8 concurrent
API clients while jobs run and end; loses its worker to SIGKILL in the middle of 20 dispatches and
finishes every job once; and stops with Ctrl-C, leaving no process behind.
"""

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port, kill_local_jobs

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TERMINAL = {"succeeded", "failed", "cancelled"}


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


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@dataclass
class Embedded:
    url: str
    env: dict
    var: Path
    log: Path
    supervisor: subprocess.Popen | None = None
    children: set[int] = field(default_factory=set)

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(self) -> None:
        self.log_file = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self.supervisor = subprocess.Popen(
            [sys.executable, "-m", "portal.supervise", "Procfile"],  # the last step of `make run`
            cwd=ROOT,
            env=self.env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def look(self) -> set[int]:
        self.children |= descendants(self.supervisor.pid)
        return self.children

    def worker(self) -> int | None:
        """The Celery worker's main process (its pool's processes are its children), not the one
        that runs the periodic tasks."""
        for pid in descendants(self.supervisor.pid):
            line = command_line(pid)
            if " worker " in line and "--queues periodic" not in line and os.getpgid(pid) == pid:
                return pid
        return None

    def stop(self) -> list[int]:
        """Ctrl-C in the terminal of `make run`; returns the processes left behind."""
        if self.supervisor is None or self.supervisor.poll() is not None:
            return []
        self.look()
        os.killpg(self.supervisor.pid, signal.SIGINT)
        try:
            self.supervisor.wait(timeout=90)
        finally:
            if self.supervisor.poll() is None:
                os.killpg(self.supervisor.pid, signal.SIGKILL)
            self.log_file.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(alive(pid) for pid in self.children):
            time.sleep(0.5)
        return [pid for pid in self.children if alive(pid)]


@pytest.fixture(scope="module")
def embedded(tmp_path_factory) -> Embedded:
    folder = tmp_path_factory.mktemp("embedded")
    var = folder / "var"
    for name in ["celery/queue", "celery/processed", "celery/control", "jobs", "mlartifacts", "cache"]:
        (var / name).mkdir(parents=True)  # as `make var`
    unset = {
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "CACHE_URL",
        "MLFLOW_TRACKING_URI",
        "DJANGO_ALLOW_ASYNC_UNSAFE",
    }
    env = {key: value for key, value in os.environ.items() if key not in unset}
    env.update(
        TALLER_VAR_DIR=str(var),
        TALLER_PORT=str(free_port()),
        TALLER_MLFLOW_PORT=str(free_port()),
        PATH=f"{BIN}:{env['PATH']}",  # as `make run`: the Procfile finds python, celery and mlflow there
    )
    portal = Embedded(url=f"http://127.0.0.1:{env['TALLER_PORT']}", env=env, var=var, log=folder / "run.log")
    portal.manage("migrate", "--noinput")
    assert "demo/demo" in portal.manage("seed_demo")
    portal.start()
    try:
        deadline = time.monotonic() + 240
        health = None
        while time.monotonic() < deadline and portal.supervisor.poll() is None:
            portal.look()
            try:
                health = requests.get(f"{portal.url}/healthz", timeout=5)
                if health.status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(1)
        assert health is not None and health.status_code == 200, portal.output()[-3000:]
        assert health.json() == {
            "status": "ok",
            "database": "ok",
            "broker": "ok",
            "mlflow": "ok",
            "static": "ok",
        }
        portal.look()
        yield portal
    finally:
        portal.stop()
        kill_local_jobs(var)


def api(portal: Embedded, username: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Token {portal.manage('issue_token', username).strip()}"
    return session


def job_spec(name: str, code: str, **fields) -> dict:
    return {
        "project": "demo",
        "name": name,
        "image": "python:3.11-slim",
        "command": ["python", "-c", code],
        "resources": {"cpu": "0.1", "memory_mib": 64},
        "time_limit_minutes": 5,
        **fields,
    }


def wait_for_jobs(portal: Embedded, client: requests.Session, ids: list[int], timeout: float) -> dict:
    """Every job's detail (with its transitions) once all have ended."""
    deadline = time.monotonic() + timeout
    jobs: dict[int, dict] = {}
    while time.monotonic() < deadline:
        for job_id in ids:
            if jobs.get(job_id, {}).get("status") not in TERMINAL:
                response = client.get(f"{portal.url}/api/v1/jobs/{job_id}/", timeout=30)
                assert response.status_code == 200, response.text
                jobs[job_id] = response.json()
        if all(job["status"] in TERMINAL for job in jobs.values()):
            return jobs
        time.sleep(1)
    waiting = {job_id: (job["status"], job["status_reason"]) for job_id, job in jobs.items()}
    raise AssertionError(f"jobs still not ended: {waiting}\n{portal.output()[-3000:]}")


def seconds_dispatching(job: dict) -> float:
    """From admission (the move to dispatching) to the next move, as the job's history stored them."""
    transitions = job["transitions"]
    index = next(i for i, t in enumerate(transitions) if t["to_status"] == "dispatching")
    start, end = (datetime.fromisoformat(transitions[i]["at"]) for i in (index, index + 1))
    return (end - start).total_seconds()


@pytest.mark.slow
def test_signs_a_user_in(embedded):
    base = embedded.url
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
    output = embedded.output()
    for name in ("web", "worker", "beat", "watcher", "mlflow"):
        assert f"spawned: '{name}'" in output, f"{name} did not start"


@pytest.mark.slow
def test_concurrent_clients_while_jobs_run_and_end(embedded):
    """8 API clients send 30 submissions of short jobs while earlier ones run and end: no answer is
    a 500 (SQLite's "database is locked"), every job succeeds, none waits in dispatching over 60 s."""
    token = api(embedded, "demo").headers["Authorization"]
    answers: list[tuple[int, dict | str]] = []
    lock = threading.Lock()

    def client(number: int, count: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = token
        for n in range(count):
            code = f"import time; print('job {number}.{n}'); time.sleep({1 + n % 2})"
            response = session.post(
                f"{embedded.url}/api/v1/jobs/", json=job_spec(f"client {number} job {n}", code), timeout=120
            )
            body = (
                response.json()
                if response.headers.get("Content-Type") == "application/json"
                else response.text
            )
            with lock:
                answers.append((response.status_code, body))

    counts = [4, 4, 4, 4, 4, 4, 3, 3]
    clients = [threading.Thread(target=client, args=(i, count)) for i, count in enumerate(counts)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()
    assert [code for code, _body in answers] == [201] * 30, [a for a in answers if a[0] != 201]

    session = api(embedded, "demo")
    jobs = wait_for_jobs(embedded, session, [body["id"] for _code, body in answers], timeout=600)
    assert {job_id: job["status"] for job_id, job in jobs.items()} == dict.fromkeys(jobs, "succeeded")
    dispatching = {job_id: seconds_dispatching(job) for job_id, job in jobs.items()}
    assert max(dispatching.values()) <= 60, dispatching
    print("longest in dispatching:", max(dispatching.values()), "s")


@pytest.mark.slow
def test_worker_killed_in_the_middle_of_dispatches(embedded):
    """SIGKILL to the worker (its whole process group) while 20 jobs are being dispatched: the
    supervisor starts it again, and every job runs, once, to its end. The filesystem broker loses
    the messages the dead worker had taken; the queue drain dispatches those jobs again once their
    claim lapses."""
    admin = api(embedded, "admin")
    quota = admin.patch(
        f"{embedded.url}/api/v1/projects/demo/quota/",
        json={"max_running_jobs": 20, "reason": "twenty at once"},
        timeout=30,
    )
    assert quota.status_code == 200, quota.text
    # Each start is written in the job's own folder: the only place a (sandboxed) job may write.
    code = "import os, time; print(os.environ['TALLER_JOB_ID'], file=open('starts.txt', 'a')); time.sleep(1)"
    demo = api(embedded, "demo")
    worker = embedded.worker()
    assert worker is not None
    ids = []
    for n in range(20):
        response = demo.post(
            f"{embedded.url}/api/v1/jobs/",
            json=job_spec(f"kill {n}", code),
            timeout=60,
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])

    # Freeze the worker until it is caught in the middle of a dispatch (a job it claimed is still
    # dispatching), then kill it there.
    database = sqlite3.connect(f"file:{embedded.var / 'taller.sqlite3'}?mode=ro", uri=True)
    in_flight: list[int] = []
    deadline = time.monotonic() + 120
    while not in_flight:
        assert time.monotonic() < deadline, "never caught the worker dispatching"
        os.killpg(worker, signal.SIGSTOP)
        in_flight = [
            job_id
            for (job_id,) in database.execute(
                "SELECT id FROM clusterjobs_job WHERE status = 'dispatching' AND dispatch_claim != ''"
            )
        ]
        if not in_flight:
            os.killpg(worker, signal.SIGCONT)
            time.sleep(0.05)
    os.killpg(worker, signal.SIGKILL)
    database.close()

    jobs = wait_for_jobs(embedded, demo, ids, timeout=600)
    assert {job_id: job["status"] for job_id, job in jobs.items()} == dict.fromkeys(ids, "succeeded")
    for job_id in ids:  # each ran once
        assert (embedded.var / "jobs" / str(job_id) / "starts.txt").read_text().split() == [str(job_id)]
    for job in jobs.values():
        moves = Counter(t["to_status"] for t in job["transitions"])
        assert set(moves.values()) == {1} and moves["succeeded"] == 1, job["transitions"]  # no step twice
        # Taken up again by the drain, not by reconcile's five-minute repair.
        assert seconds_dispatching(job) < 300, job["transitions"]
    print(
        f"killed dispatching {in_flight}; longest in dispatching:",
        max(seconds_dispatching(job) for job in jobs.values()),
        "s",
    )
    output = embedded.output()
    assert "exited: worker (terminated by SIGKILL; not expected)" in output
    assert embedded.worker() not in (None, worker)  # a new worker


@pytest.mark.slow
def test_ctrl_c_stops_every_process(embedded):
    children = embedded.look()
    assert len(children) >= 5
    left = embedded.stop()
    assert left == [], [(pid, command_line(pid)) for pid in left]
