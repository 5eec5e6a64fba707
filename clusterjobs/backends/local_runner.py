"""The detached runner of one local job: ``python -m clusterjobs.backends.local_runner <control dir>``.

It reads the job's environment from stdin (the portal writes it there, never to a file: it holds
the job's token and secret values), detaches (double fork, so the portal never has to reap it),
checks that the job's MLflow tracking address answers without a redirect, starts the job's
command in a new session with that environment (inside the bwrap sandbox that ``spec.json``
names, if any), enforces the time limit (SIGTERM to the job's process group,
SIGKILL after a grace period), stops the job on SIGTERM (a cancel), and writes the job's status
to ``status.json`` atomically: pid (of the job's process group), started_at, finished_at,
exit_code, reason. Standard library only: it starts in a fraction of a second and needs nothing of
the portal: not its settings, not its database, and no variable of the portal's environment.
"""

import errno
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

POLL_SECONDS = 0.2
# How long the job's MLflow tracking address may stay silent before the job fails (a portal restarting).
PREFLIGHT_SECONDS = 30


def now() -> str:
    return datetime.now(UTC).isoformat()


def write_json(path: Path, data: dict) -> None:
    """Write atomically: a reader sees the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as file:
        json.dump(data, file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, path)


def describe_exit(returncode: int) -> tuple[int, str]:
    """(shell-style exit code, readable reason) of a finished process."""
    if returncode < 0:
        number = -returncode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        hint = " (out of memory?)" if number == signal.SIGKILL else ""
        return 128 + number, f"killed by {name}{hint}"
    return returncode, f"exited with code {returncode}"


def kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs) -> None:
        return None  # the 3xx comes back as an HTTPError instead of being followed


def tracking_problem(env: dict[str, str]) -> str:
    """Why the job's MLflow client would not reach its tracking address, or '' when it would.

    Asked before the command starts, with the first call ``mlflow.start_run()`` makes. A redirect is a
    configuration error (the client follows it, then retries for minutes with an empty log), so it
    fails at once; no answer is asked again for PREFLIGHT_SECONDS. Any other answer, even an error,
    means the address is right: the client reports the rest itself.
    """
    uri = env.get("MLFLOW_TRACKING_URI", "").rstrip("/")
    if not uri.startswith(("http://", "https://")):
        return ""
    request = urllib.request.Request(
        f"{uri}/api/2.0/mlflow/runs/get?run_id={quote(env.get('MLFLOW_RUN_ID', ''))}"
    )
    if env.get("MLFLOW_TRACKING_TOKEN"):
        request.add_header("Authorization", f"Bearer {env['MLFLOW_TRACKING_TOKEN']}")
    opener = urllib.request.build_opener(_NoRedirect)
    deadline = time.monotonic() + PREFLIGHT_SECONDS
    while True:
        try:
            with opener.open(request, timeout=10):
                return ""
        except urllib.error.HTTPError as error:
            if 300 <= error.code < 400:
                location = error.headers.get("Location", "?")
                return f"MLflow tracking at {uri} answered with a redirect to {location}"
            return ""
        except (OSError, http.client.HTTPException) as error:
            if time.monotonic() > deadline:
                why = getattr(error, "reason", None) or error
                return f"could not reach MLflow tracking at {uri}: {why}"
            time.sleep(1)


def start_sandboxed(sandbox: list[str], command: list[str], **popen) -> tuple[subprocess.Popen, int]:
    """Start ``command`` under bwrap; returns bwrap's process and the process group of the job
    inside it. bwrap's own process dies on SIGTERM (taking the sandbox with it), so signals go to
    the sandbox's session (``--new-session``): its init passes them by, the job gets them."""
    read, write = os.pipe()
    try:
        process = subprocess.Popen(
            [*sandbox, "--info-fd", str(write), "--", *command], pass_fds=(write,), **popen
        )
    finally:
        os.close(write)
    with os.fdopen(read, "rb") as info:
        data = info.read(4096)  # bwrap writes it once the sandbox is up, or closes it failing
    try:
        group = int(json.loads(data)["child-pid"])
    except (ValueError, KeyError, TypeError):
        group = process.pid  # bwrap failed: its own message is in the job's log
    return process, group


def check_program(command: list[str], env: dict[str, str], cwd: str) -> None:
    """Raise FileNotFoundError for a command that cannot be found, as a direct start would: inside
    the sandbox it is bwrap that fails, with a message of its own."""
    name = command[0] if command else ""
    if "/" in name:
        found = os.access(os.path.join(cwd, name), os.X_OK)
    else:
        found = shutil.which(name, path=env.get("PATH", os.defpath)) is not None
    if not found:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)


def sandboxed_returncode(returncode: int) -> int:
    """bwrap reports a job killed by signal N as exit code 128 + N, as shells do: read it back as
    a signal, like a process started directly."""
    return -(returncode - 128) if 128 < returncode < 128 + 65 else returncode


def last_lines(path: Path, count: int = 5) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return " / ".join(lines[-count:])[-1000:]


class Runner:
    def __init__(self, control: Path, env: dict[str, str]) -> None:
        self.control = control
        self.spec = json.loads((control / "spec.json").read_text())
        self.env = env
        self.stop_reason = ""

    def on_sigterm(self, signum, frame) -> None:
        self.stop_reason = self.stop_reason or "cancelled"

    def status(self, **fields) -> None:
        write_json(self.control / "status.json", {"runner_pid": os.getpid(), **fields})

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self.on_sigterm)
        spec = self.spec
        if (self.control / "cancel").exists():
            self.status(
                phase="failed", reason="cancelled before it started", exit_code=None, finished_at=now()
            )
            return
        log = open(self.control / "output.log", "ab")  # noqa: SIM115 - open for the job's life
        started = now()
        problem = tracking_problem(self.env)
        if problem or self.stop_reason:
            reason = problem or self.stop_reason
            log.write(f"taller: {reason}\n".encode())
            if problem:
                log.write(
                    b"taller: the command did not start. The portal's address for jobs (TALLER_JOB_PORTAL_URL)"
                    b" must answer them without a redirect: tell the portal's administrators.\n"
                )
            log.close()
            self.status(phase="failed", reason=reason, exit_code=None, started_at=started, finished_at=now())
            return
        problem = self.prepare(log)
        if problem:
            log.close()
            self.status(phase="failed", reason=problem, exit_code=None, started_at=started, finished_at=now())
            return
        sandbox = spec.get("sandbox") or []
        popen = {
            "cwd": spec["cwd"],
            "env": self.env,
            "stdin": subprocess.DEVNULL,
            "stdout": log,
            "stderr": subprocess.STDOUT,
            "start_new_session": True,
        }
        try:
            if sandbox:
                check_program(spec["command"], self.env, spec["cwd"])
                process, group = start_sandboxed(sandbox, spec["command"], **popen)
            else:
                process = subprocess.Popen(spec["command"], **popen)
                group = process.pid
        except OSError as error:
            log.write(f"taller: could not start {spec['command'][0]!r}: {error.strerror}\n".encode())
            log.close()
            self.status(
                phase="failed",
                reason=f"could not start {spec['command'][0]!r}: {error.strerror}",
                exit_code=127,
                started_at=started,
                finished_at=now(),
            )
            return
        self.status(phase="running", pid=group, started_at=started)
        limit = spec["time_limit_seconds"]
        grace = spec.get("grace_seconds", 10)
        deadline = time.monotonic() + limit
        term_sent_at = None
        while True:
            try:
                process.wait(timeout=POLL_SECONDS)
                break
            except subprocess.TimeoutExpired:
                pass
            if not self.stop_reason and time.monotonic() > deadline:
                amount = f"{limit / 60:g} minutes" if limit >= 60 else f"{limit} seconds"
                amount = amount.replace("1 minutes", "1 minute").replace("1 seconds", "1 second")
                self.stop_reason = f"time limit of {amount} exceeded"
            if self.stop_reason and term_sent_at is None:
                kill_group(group, signal.SIGTERM)
                term_sent_at = time.monotonic()
            elif term_sent_at is not None and time.monotonic() > term_sent_at + grace:
                kill_group(group, signal.SIGKILL)
        # Whatever the command left behind in its group goes with it.
        kill_group(group, signal.SIGKILL)
        returncode = sandboxed_returncode(process.returncode) if sandbox else process.returncode
        exit_code, description = describe_exit(returncode)
        log.close()
        if self.stop_reason:
            phase, reason = "failed", f"{self.stop_reason} ({description})"
        elif exit_code == 0:
            phase, reason = "succeeded", description
        else:
            phase, reason = "failed", description
        self.status(
            phase=phase,
            pid=group,
            exit_code=exit_code,
            reason=reason,
            started_at=started,
            finished_at=now(),
        )

    def prepare(self, log) -> str:
        """Run the spec's steps before the command (the checkout of a git source), each bounded by
        its timeout and stopped by a cancel, its output in the job's log. Returns why one failed
        (naming the step, with the end of its log), or ''. Variables only the steps need are then
        dropped from the job's environment."""
        for step in self.spec.get("prepare") or []:
            name = step["step"]
            Path(step["cwd"]).mkdir(parents=True, exist_ok=True)
            step_log = self.control / f"{name}.log"
            with open(step_log, "wb") as output:
                try:
                    process = subprocess.Popen(
                        step["command"],
                        cwd=step["cwd"],
                        env=self.env,
                        stdin=subprocess.DEVNULL,
                        stdout=output,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                except OSError as error:
                    return f"{name} failed: {error.strerror}"
                deadline = time.monotonic() + step["timeout_seconds"]
                while process.poll() is None:
                    if self.stop_reason or time.monotonic() > deadline:
                        kill_group(process.pid, signal.SIGKILL)
                        process.wait()
                        break
                    time.sleep(POLL_SECONDS)
            log.write(step_log.read_bytes())
            log.flush()
            if self.stop_reason:
                return self.stop_reason
            if process.returncode != 0:
                if time.monotonic() > deadline:
                    return f"{name} failed: not done within {step['timeout_seconds']} seconds"
                return f"{name} failed (exit code {process.returncode}): {last_lines(step_log)}"
            for variable in step.get("drop_env") or []:
                self.env.pop(variable, None)
        return ""


def main(argv: list[str]) -> int:
    control = Path(argv[1])
    env = json.loads(sys.stdin.buffer.read())["env"]  # before the fork: the portal waits for it
    child = os.fork()
    if child:
        # The launcher's child: record the runner's pid, then exit so the portal has nothing to reap.
        write_json(control / "runner.json", {"pid": child, "launched_at": now()})
        return 0
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    Runner(control, env).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
