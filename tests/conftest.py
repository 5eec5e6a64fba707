"""Personas shared by every test: alice owns the project, bob is a member, vera a viewer,
charlie has no access, and root is a site admin."""

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import time_machine
from django.test import Client
from django.utils import timezone, translation

from portal.projects.models import Project, Role

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API beside live_server

from .factories import MembershipFactory, ProjectFactory, UserFactory


@dataclass
class Personas:
    project: Project
    alice: object  # owner
    bob: object  # member
    vera: object  # viewer
    charlie: object  # outsider
    root: object  # site admin

    def client(self, who: str | None) -> Client:
        client = Client()
        if who is not None:
            client.force_login(getattr(self, who))
        return client


@pytest.fixture(autouse=True)
def _isolated_var(settings, tmp_path):
    """Each test writes its files (cache, job folders, broker) under its own temporary folder; the
    local jobs it started there end with it, also when it failed before it could stop them."""
    settings.VAR_DIR = var = tmp_path / "var"
    var.mkdir()
    yield
    kill_local_jobs(var)


def kill_local_jobs(var: Path) -> list[int]:
    """SIGKILL every process of the local backend's jobs under ``var``: their runners (which name
    their job's folder), the jobs and whatever they started (which work in it). Returns the pids."""
    jobs = var / "jobs"
    if not jobs.is_dir() or not any(jobs.iterdir()):
        return []
    roots = {str(jobs) + os.sep, str(jobs.resolve()) + os.sep}
    killed = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cwd = os.readlink(proc / "cwd") + os.sep
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue  # gone already, or not ours to look at
        if any(cwd.startswith(root) or root.encode() in cmdline for root in roots):
            try:
                os.kill(int(proc.name), signal.SIGKILL)
                killed.append(int(proc.name))
            except ProcessLookupError:
                pass
    return killed


@pytest.fixture(autouse=True)
def _language_of_the_site():
    """A request in Spanish activates Spanish for the thread (LocaleMiddleware); the next test
    starts in the site's language again, whatever order the tests run in."""
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Real hashing costs ~0.3 s a user; tests only need passwords that check."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def personas(db) -> Personas:
    alice = UserFactory(username="alice", first_name="Alice")
    project = ProjectFactory(slug="genomics", name="Genomics", requested_by=alice)
    MembershipFactory(project=project, user=alice, role=Role.OWNER)
    bob = MembershipFactory(project=project, user=UserFactory(username="bob"), role=Role.MEMBER).user
    vera = MembershipFactory(project=project, user=UserFactory(username="vera"), role=Role.VIEWER).user
    charlie = UserFactory(username="charlie")
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    return Personas(project=project, alice=alice, bob=bob, vera=vera, charlie=charlie, root=root)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode} before {url} answered")
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


# A real Chromium (Debian's), headless, for the browser tests.
@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "headless": True,
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


def start_mlflow_server(folder: Path, *extra_args: str) -> tuple[str, subprocess.Popen]:
    """A real `mlflow server` with a SQLite store and artifacts served through it, on a free port."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log = open(folder / "mlflow.log", "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("mlflow")),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{folder / 'mlflow.sqlite3'}",
            "--artifacts-destination",
            str(folder / "artifacts"),
            *extra_args,
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", timeout=120, process=process)
    except RuntimeError:
        process.kill()
        raise
    return url, process


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory) -> str:
    """The URL of a real MLflow tracking server, shared by the whole session."""
    url, process = start_mlflow_server(tmp_path_factory.mktemp("mlflow"))
    yield url
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def mlflow_uri(mlflow_server, settings) -> str:
    """Point the portal at the session's MLflow server for one test."""
    settings.MLFLOW_TRACKING_URI = mlflow_server
    return mlflow_server


@pytest.fixture
def celery_worker(transactional_db):
    """A real Celery worker, in this process, consuming the real broker (Redis under `make test`)."""
    from celery.contrib.testing.worker import start_worker

    from portal.celery import app

    app.control.purge()
    with start_worker(
        app, pool="threads", concurrency=4, perform_ping_check=False, shutdown_timeout=30
    ) as worker:
        yield worker


@pytest.fixture
def still_clock():
    """The wall clock stopped for the test, so that what is counted in fixed windows (the sign-in
    limit, the API's and a key's rate) falls in one window however slow the machine is: otherwise
    a minute's window may end between a test's fifth attempt and its sixth, and the sixth is let
    in. ``time.monotonic`` and ``time.sleep`` go on as before."""
    with time_machine.travel(timezone.now(), tick=False):
        yield


@pytest.fixture
def mid_period():
    """Now, moved forward when need be to at least three days into its week, month, quarter and
    year, for tests that backdate use by hours and count it in the current budget period: in the
    first hours of a period (a month's first night) that use would fall in the previous one. The
    clock keeps ticking; the web server threads of the test process see the same time."""
    target = timezone.now()
    while target.day < 4 or target.weekday() < 3:
        target += timedelta(days=1)
    if target.date() == timezone.now().date():
        yield
        return
    with time_machine.travel(target, tick=True):
        yield
