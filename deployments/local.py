"""The embedded default's serving: each live deployment one ``mlflow models serve`` process on
this machine, started, watched and replaced by one process of ours (``manage.py serve_models``,
a line of the Procfile, so that ``make run``'s supervisor keeps it alive).

A rollout (a new version, or other replicas: the server's workers) starts the new server beside
the old one on a port of its own; when it answers ``/ping`` the deployment's ``address`` moves to
it in one conditional update, and the old server is stopped after a grace period, so requests
on their way finish. A new server that exits or does not answer in time is stopped: the
deployment goes back to the version still serving, its reason saying why.

Each server fetches its model through the portal's tracking proxy with a token of its own,
scoped to the project (a workload token), revoked when its server stops.
"""

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_noop

from portal.accounts.actions import create_token
from portal.accounts.models import ApiToken

from .models import LIVE, Deployment, DeploymentStatus

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass
class Server:
    deployment_id: int
    version: str
    replicas: int
    port: int
    process: subprocess.Popen
    token_id: int
    log_path: Path
    started: float = field(default_factory=time.monotonic)

    @property
    def wants(self) -> tuple[str, int]:
        return self.version, self.replicas

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def answers(self) -> bool:
        try:
            return requests.get(f"{self.address}/ping", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def last_lines(self, count: int = 5) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(lines[-count:])[-400:]

    def stop(self) -> None:
        """Stop the server's whole process group: mlflow, and the uvicorn workers it started, which
        may outlive it (and go on answering) unless waited for; those left after 10 s are killed."""
        group = self.process.pid  # its own session: the group's id is the leader's pid
        try:
            os.killpg(group, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 10
        while _group_alive(group) and time.monotonic() < deadline:
            self.process.poll()  # reap the leader, so that it no longer counts
            time.sleep(0.1)
        if _group_alive(group):
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            log.error("deployment %s: model server %s would not die", self.deployment_id, group)
        ApiToken.objects.filter(pk=self.token_id, revoked_at__isnull=True).update(revoked_at=timezone.now())


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def mlflow_command() -> str:
    return str(Path(sys.executable).with_name("mlflow"))


def _die_with_parent(parent: int):
    """What the model server's process runs before mlflow starts (Linux): be sent SIGTERM when
    the thread that started it ends, so that a ``serve_models`` killed with SIGKILL leaves no
    server behind. mlflow asks the same for the uvicorn it starts, and uvicorn stops its workers
    on SIGTERM."""

    def preexec() -> None:
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            return
        if os.getppid() != parent:  # the parent died before prctl: do not outlive it
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def spawn(command: list[str], env: dict, log_path: Path, cwd: Path) -> subprocess.Popen:
    """A model server in a session (process group) of its own, stopped as a group, that dies
    with the process that started it (``serve_models`` starts them from its one thread)."""
    linux = sys.platform.startswith("linux")
    with open(log_path, "wb") as output:
        return subprocess.Popen(  # noqa: S603 - arguments the portal built
            command,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent(os.getpid()) if linux else None,  # noqa: PLW1509
        )


def start_server(deployment: Deployment) -> Server:
    token, key = create_token(
        deployment.created_by, f"deployment {deployment.pk}", project=deployment.project
    )
    port = free_port()
    folder = Path(settings.VAR_DIR) / "deployments"
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / f"{deployment.pk}-{port}.log"
    env = {
        # mlflow starts uvicorn by name: this Python's scripts first.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "/usr/bin:/bin")]),
        "HOME": str(folder),
        "MLFLOW_TRACKING_URI": settings.TALLER_JOB_TRACKING_URI,
        "MLFLOW_TRACKING_TOKEN": key,
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    }
    command = deployment.serve_command(mlflow_command(), "127.0.0.1", port, deployment.replicas)
    process = spawn(command, env, log_path, folder)
    log.info("deployment %s: starting v%s on port %s", deployment.pk, deployment.version, port)
    return Server(deployment.pk, deployment.version, deployment.replicas, port, process, token.pk, log_path)


class LocalServing:
    """The servers of every local deployment, brought in line with the database by ``tick()``."""

    def __init__(self) -> None:
        self.serving: dict[int, Server] = {}
        self.starting: dict[int, Server] = {}
        self.retiring: list[tuple[float, Server]] = []

    def tick(self) -> None:
        live = {
            d.pk: d
            for d in Deployment.objects.filter(backend="local", status__in=LIVE).select_related(
                "project", "created_by"
            )
        }
        for pk in set(self.serving) | set(self.starting):
            if pk not in live:
                self._drop(pk)
        for deployment in live.values():
            self._bring_in_line(deployment)
        now = time.monotonic()
        for until, server in list(self.retiring):
            if until <= now:
                server.stop()
                self.retiring.remove((until, server))

    def stop_all(self) -> None:
        for pk in set(self.serving) | set(self.starting):
            self._drop(pk)
        for _until, server in self.retiring:
            server.stop()
        self.retiring.clear()

    def _drop(self, pk: int) -> None:
        for table in (self.serving, self.starting):
            server = table.pop(pk, None)
            if server is not None:
                server.stop()

    def _bring_in_line(self, deployment: Deployment) -> None:
        wants = (deployment.version, deployment.replicas)
        current = self.serving.get(deployment.pk)
        if current is not None and not current.alive():
            log.warning("deployment %s: server exited: %s", deployment.pk, current.last_lines())
            self.serving.pop(deployment.pk).stop()
            current = None
        new = self.starting.get(deployment.pk)
        if current is not None and current.wants == wants:
            if new is not None:
                self.starting.pop(deployment.pk).stop()
            return
        if new is not None and new.wants != wants:
            self.starting.pop(deployment.pk).stop()
            new = None
        if new is None:
            self.starting[deployment.pk] = start_server(deployment)
            return
        if new.answers():
            self._switch(deployment, new, current)
        elif not new.alive() or time.monotonic() - new.started > settings.TALLER_DEPLOY_START_SECONDS:
            self._failed(deployment, self.starting.pop(deployment.pk), current)

    def _switch(self, deployment: Deployment, new: Server, old: Server | None) -> None:
        moved = Deployment.objects.filter(
            pk=deployment.pk, status__in=LIVE, version=new.version, replicas=new.replicas
        ).update(
            serving_version=new.version,
            serving_replicas=new.replicas,
            address=new.address,
            token_id=new.token_id,
            status=DeploymentStatus.RUNNING,
            status_reason=gettext_noop("serving"),
            updated_at=timezone.now(),
        )
        self.starting.pop(deployment.pk)
        if not moved:  # changed again meanwhile: the next tick rolls out what is wanted now
            new.stop()
            return
        self.serving[deployment.pk] = new
        if old is not None:
            self.retiring.append((time.monotonic() + settings.TALLER_DEPLOY_DRAIN_SECONDS, old))
        log.info("deployment %s: v%s serves on port %s", deployment.pk, new.version, new.port)

    def _failed(self, deployment: Deployment, new: Server, current: Server | None) -> None:
        why = new.last_lines() or "no answer"
        new.stop()
        log.warning("deployment %s: v%s did not start: %s", deployment.pk, new.version, why)
        reason = f"version {new.version} did not start: {why}"
        rows = Deployment.objects.filter(pk=deployment.pk, version=new.version, replicas=new.replicas)
        if current is not None:  # the previous version keeps serving
            rows.update(
                version=current.version,
                replicas=current.replicas,
                status=DeploymentStatus.RUNNING,
                status_reason=reason[:500],
                updated_at=timezone.now(),
            )
        else:  # nothing of ours serves it: said, and the quota it held is free
            rows.update(
                status=DeploymentStatus.FAILED,
                status_reason=reason[:500],
                address="",
                updated_at=timezone.now(),
            )
