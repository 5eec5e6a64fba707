"""`taller` end to end for jobs and runs: real `taller` processes against a live portal, a real Celery
worker on the real broker, the watcher loop, the local backend's processes and a real mlflow server:
submit (with --wait), jobs, status, logs (with --follow), cancel, rerun, runs and quota.

Each command's output is read back the way a person or a script reads it: the table, the JSON
(parsed), the exit status, and one line on stderr for every failure.
"""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connection

from clusterjobs.backends import get_backend
from clusterjobs.models import Job, JobStatus
from clusterjobs.watcher import follow
from portal.accounts.actions import create_token

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--poll-interval", "0.2"]


@pytest.fixture
def watcher(settings):
    """The watch_jobs loop in a thread, stopped at the end as SIGTERM stops the command."""
    stop = threading.Event()

    def run():
        try:
            follow(stop, get_backend("local"))
        finally:
            connection.close()

    thread = threading.Thread(target=run, name="watcher")
    thread.start()
    yield
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()


@pytest.fixture
def portal(live_server, personas, settings, mlflow_uri, celery_worker, watcher):
    """The live portal running jobs on the local backend, and the environment `taller` reads."""
    settings.TALLER_EXECUTOR = "local"
    settings.TALLER_JOB_TRACKING_URI = mlflow_uri
    settings.TALLER_LOCAL_KILL_GRACE_SECONDS = 2
    settings.TALLER_LOCAL_POLL_SECONDS = 0.2
    return live_server.url


class Taller:
    """Runs `python -m taller_cli` as a separate process, as a user's shell would."""

    def __init__(self, url: str, token: str) -> None:
        self.env = {**os.environ, "TALLER_URL": url, "TALLER_TOKEN": token}
        self.env.pop("XDG_CONFIG_HOME", None)

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "taller_cli", *args]

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.command(*args), env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
        )

    def json(self, *args: str):
        done = self(*args, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            self.command(*args),
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def as_user(portal: str, user) -> Taller:
    return Taller(portal, create_token(user, "cli")[1])


def one_error_line(done, code: int, *fragments: str) -> str:
    assert done.returncode == code, (done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("taller: error: "), done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


SUBMIT = ["submit", "--project", "genomics", "--image", "python:3.11-slim", *FAST]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_submit_wait_jobs_status_logs_rerun_and_runs(portal, personas):
    bob = as_user(portal, personas.bob)

    # submit --wait: followed to the end, exit 0, each status change on its own line.
    done = bob(
        *SUBMIT,
        "--name",
        "hello",
        "--cpu",
        "500m",
        "--memory",
        "1Gi",
        "--time",
        "10m",
        "--env",
        "GREETING=hi",
        "--wait",
        "--",
        "python",
        "-c",
        "import os; print('hello', os.environ['GREETING'], flush=True)",
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    hello = int(lines[0].split()[2].rstrip(";"))
    assert lines[0].startswith(f"Submitted job {hello}; waiting")
    assert lines[1] == f"job {hello} queued: submitted by bob"
    assert lines[-1].startswith(f"job {hello} succeeded")
    job = Job.objects.get(pk=hello)
    assert (job.status, job.exit_code, str(job.cpu), job.memory_mib) == ("succeeded", 0, "0.500", 1024)
    assert job.time_limit_minutes == 10 and job.env == {"GREETING": "hi"}

    # submit --wait --json of a failing job: exit 1, the job as JSON, its reason on stderr.
    done = bob(*SUBMIT, "--wait", "--json", "--", "python", "-c", "import sys; print('bad'); sys.exit(3)")
    failed = json.loads(done.stdout)
    assert failed["status"] == "failed" and failed["exit_code"] == 3
    assert failed["name"] == "python -c import sys; print('bad'); sys.exit(3)"  # named after its command
    one_error_line(done, 1, f"job {failed['id']} failed (exit code 3)")

    # jobs: the table, --json, and the filters.
    table = bob("jobs", "--project", "genomics")
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split() == ["ID", "PROJECT", "NAME", "STATUS", "CREATED"]
    assert [row.split()[0] for row in table.stdout.splitlines()[1:]] == [str(failed["id"]), str(hello)]
    assert [j["id"] for j in bob.json("jobs")] == [failed["id"], hello]
    assert [j["id"] for j in bob.json("jobs", "--status", "succeeded")] == [hello]
    assert [j["id"] for j in bob.json("jobs", "--limit", "1")] == [failed["id"]]
    assert bob.json("jobs", "--project", "physics") == []  # not a project of bob's: nothing to see

    # status: fields for people, the API's detail for scripts.
    shown = bob("status", str(hello))
    assert shown.returncode == 0, shown.stderr
    assert any(line.split()[:2] == ["status:", "succeeded"] for line in shown.stdout.splitlines())
    detail = bob.json("status", str(hello))
    assert detail["mlflow_run_id"] == job.mlflow_run_id
    assert [t["to_status"] for t in detail["transitions"]][-1] == "succeeded"

    # logs: the whole log, or its tail.
    done = bob("logs", str(hello))
    assert done.returncode == 0 and "hello hi" in done.stdout.splitlines()
    done = bob("logs", str(failed["id"]), "--tail", "1")
    assert done.returncode == 0 and done.stdout.splitlines() == ["bad"]

    # rerun: a new job with the same spec, which succeeds too.
    done = bob("rerun", str(hello))
    assert done.returncode == 0, done.stderr
    again = int(done.stdout.split()[2])
    assert (
        done.stdout.strip()
        == f"Submitted job {again} queued: re-run of job {hello} by bob (rerun of job {hello})"
    )
    rerun = wait_until(
        lambda: Job.objects.get(pk=again).is_terminal() and Job.objects.get(pk=again), 120, "rerun"
    )
    assert rerun.status == JobStatus.SUCCEEDED and rerun.rerun_of_id == hello and rerun.env == job.env
    rerun_json = bob.json("rerun", str(again))
    assert rerun_json["rerun_of"] == again and rerun_json["status"] == "queued"
    wait_until(lambda: Job.objects.get(pk=rerun_json["id"]).is_terminal(), 120, "the second rerun")

    # runs: each job's MLflow run, as a table and as JSON; by experiment name or id; a bad filter.
    runs = bob.json("runs", "--project", "genomics")
    by_id = {run["run_id"]: run for run in runs}
    assert {job.mlflow_run_id, rerun.mlflow_run_id, Job.objects.get(pk=failed["id"]).mlflow_run_id} <= set(
        by_id
    )
    assert by_id[job.mlflow_run_id]["job_id"] == str(hello)
    assert by_id[job.mlflow_run_id]["status"] == "FINISHED"
    table = bob("runs", "--project", "genomics")
    assert table.stdout.splitlines()[0].split()[:4] == ["RUN", "ID", "NAME", "STATUS"]
    assert job.mlflow_run_id in table.stdout
    # The session's MLflow server keeps other tests' runs too: search this test's own.
    ours = [Job.objects.get(pk=pk).mlflow_run_id for pk in (hello, failed["id"], again, rerun_json["id"])]
    only_ours = "attributes.run_id IN ({})".format(", ".join(f"'{run_id}'" for run_id in ours))
    oldest_first = ["--filter", only_ours, "--order-by", "attributes.start_time ASC"]
    named = bob.json("runs", "--project", "genomics", "--experiment", "default", *oldest_first)
    assert [run["run_id"] for run in named] == ours
    numbered = bob.json(
        "runs", "--project", "genomics", "--experiment", job.mlflow_experiment_id, *oldest_first
    )
    assert numbered == named
    failed_only = f"attributes.status = 'FAILED' and {only_ours}"
    assert [run["run_id"] for run in bob.json("runs", "--project", "genomics", "--filter", failed_only)] == [
        ours[1]
    ]
    one_error_line(bob("runs", "--project", "genomics", "--experiment", "nope"), 1, "no experiment named")
    one_error_line(
        bob("runs", "--project", "genomics", "--filter", "metrics.acc >>> 1"), 1, "filter:", "(HTTP 400)"
    )
    one_error_line(bob("runs", "--project", "physics"), 1, "No such project. (HTTP 404)")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_follow_cancel_and_every_error_path(portal, personas):
    bob = as_user(portal, personas.bob)
    done = bob(
        *SUBMIT,
        "--name",
        "sleeper",
        "--",
        "python",
        "-c",
        "import time; print('working', flush=True); time.sleep(600)",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Submitted job ") and done.stdout.rstrip().endswith(
        "queued: submitted by bob"
    )
    sleeper = int(done.stdout.split()[2])
    wait_until(lambda: Job.objects.get(pk=sleeper).status == JobStatus.RUNNING, 60, "the sleeper to run")

    # quota: what the running job holds, for people and for scripts; readers only.
    quota = bob.json("quota", "--project", "genomics")
    assert (quota["running_jobs"], quota["used_cpu"], quota["queued_jobs"]) == (1, "1.000", 0)
    table = bob("quota", "--project", "genomics")
    assert table.returncode == 0 and "running_jobs:" in table.stdout and "used_cpu:" in table.stdout
    vera, charlie = as_user(portal, personas.vera), as_user(portal, personas.charlie)
    assert vera.json("quota", "--project", "genomics")["running_jobs"] == 1
    one_error_line(charlie("quota", "--project", "genomics"), 1, "No such project. (HTTP 404)")

    # logs --follow prints until the job ends: here, until it is cancelled.
    follower = bob.start("logs", str(sleeper), "--follow", *FAST)
    wait_until(lambda: "working" in bob("logs", str(sleeper)).stdout, 30, "its first line")

    # A viewer and an outsider may not cancel; the member may.
    one_error_line(vera("cancel", str(sleeper)), 1, "(HTTP 403)")
    one_error_line(charlie("cancel", str(sleeper)), 1, "(HTTP 404)")
    one_error_line(charlie("status", str(sleeper)), 1, "(HTTP 404)")
    one_error_line(charlie("logs", str(sleeper)), 1, "(HTTP 404)")
    assert Job.objects.get(pk=sleeper).status == JobStatus.RUNNING
    done = bob("cancel", str(sleeper))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"job {sleeper} cancelled: cancelled by bob"
    out, err = follower.communicate(timeout=60)
    assert follower.returncode == 0, err
    assert out.splitlines()[0] == "working" and err == ""

    # Cancelling again, re-running as a viewer, submitting where one may not: the portal's message.
    one_error_line(
        bob("cancel", str(sleeper)), 1, "status: The job has already ended (cancelled). (HTTP 400)"
    )
    assert json.loads(bob("status", str(sleeper), "--json").stdout)["status"] == "cancelled"
    one_error_line(vera("rerun", str(sleeper)), 1, "(HTTP 403)")
    one_error_line(
        vera(*SUBMIT, "--", "true"), 1, "Only members and owners of the project submit jobs. (HTTP 403)"
    )
    one_error_line(charlie(*SUBMIT, "--", "true"), 1, "project: No such project. (HTTP 400)")
    one_error_line(bob(*SUBMIT, "--gpus", "99", "--", "true"), 1, "resources.gpus:", "(HTTP 400)")
    one_error_line(bob("status", "999999"), 1, "(HTTP 404)")
    one_error_line(bob("logs", "999999", "--follow"), 1, "(HTTP 404)")
    assert Job.objects.count() == 1  # nothing half-created by the refusals

    # Usage errors: exit 2, one line, nothing sent.
    one_error_line(bob("submit", "--project", "genomics"), 2, "give the command after --, or --template NAME")
    one_error_line(bob(*SUBMIT, "--memory", "lots", "--", "true"), 2, "--memory")
    one_error_line(bob(*SUBMIT, "--env", "NOVALUE", "--", "true"), 2, "--env")
    one_error_line(bob("status", "zero"), 2)
    one_error_line(bob("jobs", "--limit", "0"), 2)

    # A bad token and an unreachable portal.
    one_error_line(Taller(portal, "tlr_wrong")("jobs"), 1, "authentication failed", "taller login")
    gone = Taller("http://127.0.0.1:9", create_token(personas.bob, "x")[1])
    one_error_line(gone("status", str(sleeper)), 1, "cannot reach http://127.0.0.1:9")
    wait_until(lambda: get_backend("local").status(sleeper, "").phase == "failed", 30, "the process to stop")
