"""End to end on the local backend: a real Celery worker on the real broker, a real mlflow server,
examples/train.py submitted through the API and followed by the watcher loop to `succeeded`, its
run holding the per-epoch metrics and the final log; a running job cancelled; a time limit enforced."""

import threading

import pytest
import requests
from django.db import connection
from rest_framework.test import APIClient

from clusterjobs.backends import get_backend
from clusterjobs.models import Job, JobStatus
from clusterjobs.watcher import follow

from .watching import wait_for


def job(pk: int) -> Job:
    return Job.objects.get(pk=pk)


@pytest.fixture
def watcher(settings):
    """The watch_jobs loop, in a thread, stopped at the end like SIGTERM stops the command."""
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


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_train_cancel_and_time_limit(personas, settings, mlflow_uri, celery_worker, watcher):
    settings.TALLER_EXECUTOR = "local"
    settings.TALLER_JOB_TRACKING_URI = mlflow_uri
    settings.TALLER_LOCAL_KILL_GRACE_SECONDS = 2
    settings.TALLER_LOCAL_POLL_SECONDS = 0.2
    client = APIClient()
    client.force_authenticate(personas.bob)

    def submit(name, command, minutes=10):
        response = client.post(
            "/api/v1/jobs/",
            {
                "project": "genomics",
                "name": name,
                "image": "python:3.11-slim",
                "command": command,
                "env": {"GREETING": "hi"},
                "resources": {"cpu": "1", "memory_mib": 1024},
                "time_limit_minutes": minutes,
            },
            format="json",
        )
        assert response.status_code == 201, response.json()
        assert response.json()["status"] == "queued"
        return response.json()["id"]

    # 1. A job that outlives its (one minute) time limit.
    sleeper = submit(
        "sleeper", ["python", "-c", "import time; print('sleeping', flush=True); time.sleep(600)"], minutes=1
    )
    # 2. The training script.
    train = submit("digits", ["python", "-m", "examples.train", "--epochs", "3", "--learning-rate", "0.02"])
    # 3. A job to cancel while it runs.
    victim = submit("victim", ["python", "-c", "import time; print('working', flush=True); time.sleep(600)"])

    wait_for(lambda: job(victim).status == JobStatus.RUNNING, 60, "the victim to run")
    wait_for(lambda: "working" in client.get(f"/api/v1/jobs/{victim}/logs/").json()["lines"], 30, "its log")
    response = client.post(f"/api/v1/jobs/{victim}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    pid = get_backend("local").status(victim, "genomics").extra["pid"]
    wait_for(
        lambda: get_backend("local").status(victim, "").phase == "failed", 30, "the victim's process to stop"
    )
    assert not _running(pid)
    cancelled = job(victim)
    assert cancelled.status == JobStatus.CANCELLED and cancelled.status_reason == "cancelled by bob"
    assert "working" in cancelled.final_log

    trained = wait_for(lambda: job(train).is_terminal() and job(train), 240, "training to end")
    assert trained.status == JobStatus.SUCCEEDED, (trained.status_reason, trained.final_log)
    assert trained.exit_code == 0 and trained.started_at and trained.finished_at
    history = [t.to_status for t in trained.transitions.all()]
    # pending may be skipped: the watcher can see the process run before dispatch records it.
    assert history[:2] == ["queued", "dispatching"] and history[-2:] == ["running", "succeeded"]
    assert "epoch 3/3" in trained.final_log
    logs = client.get(f"/api/v1/jobs/{train}/logs/?tail=5").json()
    assert logs["complete"] and len(logs["lines"]) == 5
    assert any(line.startswith("done: test accuracy") for line in logs["lines"])
    assert trained.mlflow_token.revoked_at is not None

    api = f"{mlflow_uri}/api/2.0/mlflow"
    run = requests.get(f"{api}/runs/get", params={"run_id": trained.mlflow_run_id}, timeout=10).json()["run"]
    assert run["info"]["status"] == "FINISHED"
    params = {p["key"]: p["value"] for p in run["data"]["params"]}
    assert params["epochs"] == "3" and params["learning_rate"] == "0.02"
    metric = requests.get(
        f"{api}/metrics/get-history",
        params={"run_id": trained.mlflow_run_id, "metric_key": "test_accuracy"},
        timeout=10,
    ).json()["metrics"]
    assert sorted(m["step"] for m in metric) == [1, 2, 3]
    # The log is attached after the job turns terminal (attached by end_job a few MLflow
    # calls after the status commit): wait for it as a reader would, not for the status.
    artifacts = wait_for(
        lambda: (
            requests.get(
                f"{api}/artifacts/list",
                params={"run_id": trained.mlflow_run_id, "path": "taller"},
                timeout=10,
            )
            .json()
            .get("files")
        ),
        60,
        "the final log attached to the run",
    )
    assert [f["path"] for f in artifacts] == ["taller/job.log"]
    killed = requests.get(f"{api}/runs/get", params={"run_id": cancelled.mlflow_run_id}, timeout=10).json()[
        "run"
    ]
    assert killed["info"]["status"] == "KILLED"

    timed_out = wait_for(lambda: job(sleeper).is_terminal() and job(sleeper), 150, "the time limit")
    assert timed_out.status == JobStatus.FAILED
    assert timed_out.status_reason.startswith("time limit of 1 minute exceeded (killed by SIGTERM")
    assert timed_out.exit_code == 143
    assert "sleeping" in timed_out.final_log


def _running(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
