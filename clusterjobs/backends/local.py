"""The local backend (the embedded default): each job a process group on this machine.

A job lives in ``<VAR_DIR>/jobs/<id>/``: that folder is its working directory, and
``<id>/.taller/`` holds what the portal and the job's runner share: ``spec.json`` (written once,
with the job's uid; no environment in it), ``runner.json`` (the detached runner's pid),
``status.json`` (written by the runner, atomically), ``output.log`` (the job's stdout and stderr)
and ``cancel`` (a request to stop). The folder is the whole state, so any process of the portal
(worker, watcher, web) sees the same jobs, and a restarted portal finds them again.

The job's environment (its token and secret values among it) is never written to a file: the
portal hands it to the runner through the runner's stdin, and the runner to the job. The runner
starts with an environment of its own built from nothing, so neither it nor the job inherits
anything of the portal's (``SECRET_KEY``, ``DATABASE_URL``).

Where bubblewrap (``bwrap``) works, every job runs in a sandbox of its own: ``local_sandbox``
says whether it can, and builds the sandbox's command line. The runner (``local_runner``) starts
the job's command inside it, enforces the time limit and records how the job ended.
"""

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Generator, Iterator
from datetime import datetime
from pathlib import Path
from threading import Event

from django.conf import settings
from django.utils.translation import gettext_noop

from ..sources import checkout, pull
from ..sources.archive import local_archive
from .base import Backend, BackendError, BackendStatus, JobSpec
from .local_sandbox import bwrap_path, isolation_problem, sandbox_args

log = logging.getLogger(__name__)

TERMINAL_PHASES = {"succeeded", "failed"}


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (ValueError, OSError) as error:
        raise BackendError(f"unreadable {path.name}: {error}") from error


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _runner_alive(pid: int) -> bool:
    """Is ``pid`` still our runner? (Not a zombie, and not a recycled pid of another program.)"""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return False
    except OSError:
        # No /proc (not Linux): fall back to a signal 0 probe.
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in {"Z", "X"} and b"local_runner" in cmdline


def _locked(path: Path) -> bool:
    """Does a process hold the lock file (a submit under way)?"""
    import fcntl

    try:
        file = open(path, "a")  # noqa: SIM115 - closed below
    except OSError:
        return False
    with file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(file, fcntl.LOCK_UN)
        return False


def _tail(path: Path, count: int | None) -> list[str]:
    """The last ``count`` lines of a file (all of it for None), reading from the end in blocks."""
    try:
        file = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return []
    with file:
        if count is None:
            data = file.read()
        else:
            file.seek(0, os.SEEK_END)
            position = file.tell()
            data = b""
            while position > 0 and data.count(b"\n") <= count:
                step = min(65536, position)
                position -= step
                file.seek(position)
                data = file.read(step) + data
    lines = data.decode("utf-8", errors="replace").splitlines()
    return lines if count is None else list(deque(lines, maxlen=count))


class LocalBackend(Backend):
    name = "local"

    # Read settings when needed (tests and the watcher may change VAR_DIR after import).
    @property
    def root(self) -> Path:
        return Path(settings.VAR_DIR) / "jobs"

    def folder(self, job_id: int) -> Path:
        return self.root / str(int(job_id))

    def control(self, job_id: int) -> Path:
        return self.folder(job_id) / ".taller"

    def _job_env(self, spec: JobSpec, folder: Path) -> dict[str, str]:
        """A job's environment, built from nothing: nothing of the portal's own (database URLs,
        secret key) leaks in. The portal's virtualenv comes first on PATH, so ``python`` has
        mlflow and scikit-learn; the portal's source is on PYTHONPATH, so
        ``python -m examples.train`` works."""
        source = str(settings.BASE_DIR)
        return {
            **self._base_env(),
            "HOME": str(folder),
            "TMPDIR": str(folder / "tmp"),
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": source,
            "TALLER_SOURCE_DIR": source,
            **spec.env,
        }

    @staticmethod
    def _base_env() -> dict[str, str]:
        """What the runner and every job start from: a PATH and a language, nothing else."""
        path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)])
        return {"PATH": path, "LANG": "C.UTF-8"}

    def submit(self, spec: JobSpec) -> None:
        import fcntl

        if problem := isolation_problem():
            raise BackendError(problem, permanent=True)
        bwrap = bwrap_path()
        if bwrap is None:
            log.warning("local job %s runs unisolated: no working bwrap on this machine", spec.job_id)
        folder = self.folder(spec.job_id)
        control = self.control(spec.job_id)
        source_env = checkout.clone_env(spec.request.source)
        source = spec.request.source or {}
        workdir = folder / "workspace" if source else folder  # a source: checked out or unpacked there
        try:
            (folder / "tmp").mkdir(parents=True, exist_ok=True)
            control.mkdir(mode=0o700, exist_ok=True)
            with open(control / "lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # two submits of one job: the second waits, then sees it
                existing = _read_json(control / "spec.json")
                if existing is not None:
                    if existing.get("uid") != spec.uid:
                        raise BackendError(
                            f"{spec.name} already exists on the backend for another job "
                            f"(uid {existing.get('uid')!r}, not {spec.uid!r})",
                            permanent=True,
                        )
                    if (control / "runner.json").exists():
                        return  # started by an earlier attempt: success
                # Not started: new, or left by a submit that died before it started the runner; the
                # spec is written (again), and the runner gets this submit's environment, its token
                # the live one.
                _write_json(
                    control / "spec.json",
                    {
                        "job_id": spec.job_id,
                        "uid": spec.uid,
                        "project": spec.project,
                        "image": spec.image,
                        "command": list(spec.command),
                        "sandbox": sandbox_args(bwrap, folder, control, workdir) if bwrap else [],
                        "cwd": str(workdir),
                        "prepare": self._prepare_steps(spec, workdir, source_env),
                        "time_limit_seconds": spec.time_limit_seconds,
                        "grace_seconds": settings.TALLER_LOCAL_KILL_GRACE_SECONDS,
                        "cpu": str(spec.cpu),
                        "memory_mib": spec.memory_mib,
                        "gpus": spec.gpus,
                    },
                )
                self._launch(control, {**self._job_env(spec, folder), **source_env})
        except OSError as error:
            raise BackendError(f"could not prepare {folder}: {error}") from error

    @staticmethod
    def _prepare_steps(spec: JobSpec, workdir: Path, source_env: dict[str, str]) -> list[dict]:
        """What the runner does before the job's command: the checkout of a git source into
        ``workdir`` (its credential's variables dropped before the command starts), then the
        unpacking of a code snapshot there (on top of the checkout, replacing its tree, for a
        snapshot of a checkout's uncommitted changes), then the pull of its DVC targets into the
        checkout (the remote's key pair for that step alone)."""
        step = {"cwd": str(workdir), "timeout_seconds": settings.TALLER_GIT_CLONE_TIMEOUT_SECONDS}
        steps = []
        if source_env:
            drop = list(checkout.CREDENTIAL_NAMES)
            steps.append(
                {**step, "step": checkout.STEP, "command": checkout.clone_command(), "drop_env": drop}
            )
        if digest := (spec.request.source or {}).get("snapshot"):
            archive = local_archive(spec.project, digest, workdir.parent / ".taller")
            unpack = [sys.executable, "-m", "clusterjobs.sources.unpack", archive, str(workdir)]
            unpack += ["--digest", digest, *(["--replace"] if source_env else [])]
            steps.append({**step, "step": checkout.UNPACK_STEP, "command": unpack})
        if source_env and (targets := pull.targets(spec.request.source or {})):
            steps.append(
                {
                    **step,
                    "timeout_seconds": settings.TALLER_DVC_PULL_TIMEOUT_SECONDS,
                    "step": pull.STEP,
                    "command": pull.pull_command(targets),
                    "drop_env": list(pull.CREDENTIAL_NAMES),
                }
            )
        return steps

    def _launch(self, control: Path, env: dict[str, str]) -> None:
        """Start the detached runner with an environment of its own built from nothing; the job's
        environment (its token, its secret values) goes through the runner's stdin, not a file."""
        with open(control / "runner.log", "ab") as runner_log:
            launcher = subprocess.Popen(
                [sys.executable, "-m", "clusterjobs.backends.local_runner", str(control)],
                cwd=str(settings.BASE_DIR),
                env={**self._base_env(), "PYTHONPATH": str(settings.BASE_DIR)},
                stdin=subprocess.PIPE,
                stdout=runner_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                launcher.communicate(json.dumps({"env": env}).encode(), timeout=60)
                code = launcher.returncode
            except subprocess.TimeoutExpired as error:
                launcher.kill()
                raise BackendError("the local job runner did not start within 60 s") from error
        if code != 0 or not (control / "runner.json").exists():
            raise BackendError(
                f"the local job runner failed to start (exit {code}); see {control / 'runner.log'}"
            )

    def cancel(self, job_id: int, project: str) -> bool:
        """Ask the runner to stop the job. The portal holds nothing for a local job's processes
        after this (their grace period is short and nothing else counts them): returns False."""
        control = self.control(job_id)
        if not control.exists():
            return False
        try:
            (control / "cancel").write_text("cancelled\n")
        except OSError as error:
            raise BackendError(f"could not cancel job {job_id}: {error}") from error
        status = _read_json(control / "status.json") or {}
        if status.get("phase") in TERMINAL_PHASES:
            return False
        runner = _read_json(control / "runner.json") or {}
        if runner.get("pid") and _runner_alive(runner["pid"]):
            # The runner stops the job: SIGTERM to its group, SIGKILL after the grace period.
            try:
                os.kill(runner["pid"], signal.SIGTERM)
            except ProcessLookupError:
                pass
            return False
        if status.get("pid"):
            # No runner left to do it: kill the group directly.
            try:
                os.killpg(status["pid"], signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        return False

    def logs(self, job_id: int, project: str, tail: int | None = None) -> list[str]:
        try:
            return _tail(self.control(job_id) / "output.log", tail)
        except OSError as error:  # e.g. the jobs folder is not a folder
            raise BackendError(f"could not read the log of taller-{int(job_id)}: {error}") from error

    def log_chunks(self, job_id: int, project: str) -> Iterator[bytes]:
        try:
            file = open(self.control(job_id) / "output.log", "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            return
        except OSError as error:
            raise BackendError(f"could not read the log of taller-{int(job_id)}: {error}") from error
        with file:
            while chunk := file.read(65536):
                yield chunk

    def status(self, job_id: int, project: str) -> BackendStatus:
        control = self.control(job_id)
        spec = _read_json(control / "spec.json")
        if spec is None:
            return BackendStatus(
                job_id=job_id, phase="missing", reason=gettext_noop("no such job on this machine")
            )
        state = _read_json(control / "status.json") or {}
        phase = state.get("phase")
        common = {
            "job_id": job_id,
            "started_at": _time(state.get("started_at")),
            "extra": {"uid": spec.get("uid", ""), "image": spec.get("image", ""), "pid": state.get("pid")},
        }
        if phase in TERMINAL_PHASES:
            return BackendStatus(
                phase=phase,
                reason=state.get("reason", ""),
                exit_code=state.get("exit_code"),
                finished_at=_time(state.get("finished_at")),
                **common,
            )
        runner = _read_json(control / "runner.json")
        if runner is None and not _locked(control / "lock"):
            # No submit holds the job (one takes the lock before it writes the spec and keeps it
            # until the runner has started): unless the runner started since, the submit that wrote
            # the spec died (or failed) before starting it, and the job is to be submitted again.
            runner = _read_json(control / "runner.json")
            if runner is None:
                return BackendStatus(
                    job_id=job_id, phase="missing", reason=gettext_noop("its submit ended before starting it")
                )
        if runner is None:
            return BackendStatus(phase="pending", reason=gettext_noop("starting"), **common)
        if not _runner_alive(runner["pid"]):
            # Re-read: the runner may have written its final status just before exiting.
            state = _read_json(control / "status.json") or {}
            if state.get("phase") in TERMINAL_PHASES:
                return self.status(job_id, project)
            return BackendStatus(
                phase="failed",
                reason=gettext_noop(
                    "the job's runner stopped without recording how the job ended (machine restarted?)"
                ),
                **common,
            )
        if phase == "running":
            return BackendStatus(phase="running", **common)
        return BackendStatus(phase="pending", reason=gettext_noop("starting"), **common)

    def job_ids(self) -> list[int]:
        if not self.root.exists():
            return []
        return sorted(int(entry.name) for entry in self.root.iterdir() if entry.name.isdigit())

    def watch(self, stop: Event) -> Generator[BackendStatus, bool | None, None]:
        """Every job's status once (like a list), then each change, until ``stop`` is set; a
        status the consumer could not save (it sends back False) is yielded again on the next look."""
        seen: dict[int, tuple] = {}
        while not stop.is_set():
            for job_id in self.job_ids():
                if stop.is_set():
                    return
                if seen.get(job_id, ("",))[0] in TERMINAL_PHASES:
                    continue  # ended: it cannot change any more
                try:
                    status = self.status(job_id, "")
                except BackendError as error:
                    log.warning("local job %s: %s", job_id, error)
                    continue
                key = (status.phase, status.reason, status.exit_code)
                if seen.get(job_id) != key and (yield status) is not False:
                    seen[job_id] = key
            stop.wait(settings.TALLER_LOCAL_POLL_SECONDS)

    def wait(self, job_id: int, timeout: float) -> BackendStatus:
        """Until the job ends or ``timeout`` passes (for tests and scripts)."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(job_id, "")
            if status.phase in TERMINAL_PHASES or time.monotonic() > deadline:
                return status
            time.sleep(0.1)
