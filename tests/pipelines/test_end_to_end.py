"""Pipelines end to end on the local backend: a real Celery worker on the real broker, the
watcher loop, a real mlflow server. A diamond whose one step succeeds on its retry, a failing
branch beside an independent one, a re-run from the failure, a run cancelled mid-way; the parent
and child MLflow runs."""

import pytest
import requests
from django.core import mail
from rest_framework.test import APIClient

from clusterjobs.backends import get_backend
from clusterjobs.models import Job, JobStatus
from pipelines.models import NotificationChoice, PipelineRun, StepRun
from tests.clusterjobs.watching import Watcher, wait_for

PY = "python"


def python(code: str) -> list[str]:
    return [PY, "-c", code]


@pytest.fixture
def watcher():
    watching = Watcher(get_backend("local"))
    yield watching
    watching.close()


@pytest.fixture
def gate(tmp_path, settings):
    """A file the test creates to let a step succeed, in a folder the jobs' sandbox may read."""
    folder = tmp_path / "gate"
    folder.mkdir()
    settings.TALLER_LOCAL_READ_ONLY_PATHS = [str(folder)]
    return folder / "open"


def finished(client, run_id: int) -> dict | None:
    body = client.get(f"/api/v1/pipeline-runs/{run_id}/").json()
    return (
        body
        if body["status"] != "running"
        and all(s["status"] not in ("waiting", "starting", "submitted", "retrying") for s in body["steps"])
        else None
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_diamond_failure_retry_rerun_and_cancel(personas, settings, mlflow_uri, celery_worker, watcher, gate):
    settings.TALLER_EXECUTOR = "local"
    settings.TALLER_JOB_TRACKING_URI = mlflow_uri
    settings.TALLER_LOCAL_KILL_GRACE_SECONDS = 2
    settings.TALLER_LOCAL_POLL_SECONDS = 0.2
    client = APIClient()
    client.force_authenticate(personas.bob)
    NotificationChoice.objects.create(user=personas.bob, project=personas.project, on_failure=True)
    check_upstream = (
        "import json, os; ids = json.loads(os.environ['UPSTREAM_RUN_IDS']); "
        "assert sorted(ids) == ['train-a', 'train-b'], ids; print('evaluating', ids)"
    )
    steps = [
        {"name": "prepare", "command": python("print('prepared')")},
        {"name": "train-a", "depends_on": ["prepare"], "command": python("print('a')")},
        {
            "name": "train-b",
            "depends_on": ["prepare"],
            "retries": 1,
            "retry_delay_seconds": 1,
            "command": python("import os, sys; sys.exit(os.environ['PIPELINE_STEP_ATTEMPT'] == '1')"),
        },
        {"name": "evaluate", "depends_on": ["train-a", "train-b"], "command": python(check_upstream)},
        {"name": "broken", "command": python(f"import os, sys; sys.exit(not os.path.exists({str(gate)!r}))")},
        {"name": "after-broken", "depends_on": ["broken"], "command": python("print('after')")},
        {"name": "solo", "command": python("print('solo')")},
    ]
    body = {"project": "genomics", "name": "diamond", "steps": steps}
    response = client.post("/api/v1/pipelines/", body, format="json")
    assert response.status_code == 201, response.json()
    first = response.json()["id"]

    done = wait_for(lambda: finished(client, first), 240, "the first run to end")
    states = {s["name"]: s["status"] for s in done["steps"]}
    assert done["status"] == "failed", done
    assert states == {
        "prepare": "succeeded",
        "train-a": "succeeded",
        "train-b": "succeeded",
        "evaluate": "succeeded",
        "broken": "failed",
        "after-broken": "upstream_failed",
        "solo": "succeeded",
    }
    train_b = StepRun.objects.get(run_id=first, name="train-b")
    assert train_b.attempts == 2 and len(train_b.job_ids) == 2
    assert Job.objects.get(pk=train_b.job_ids[0]).status == JobStatus.FAILED
    evaluate = StepRun.objects.get(run_id=first, name="evaluate").job
    assert "evaluating" in evaluate.final_log

    mlflow = f"{mlflow_uri}/api/2.0/mlflow/runs/get"
    run = PipelineRun.objects.get(pk=first)
    tags = requests.get(mlflow, params={"run_id": evaluate.mlflow_run_id}, timeout=10).json()["run"]["data"][
        "tags"
    ]
    assert {"key": "mlflow.parentRunId", "value": run.mlflow_run_id} in tags
    parent = lambda: requests.get(mlflow, params={"run_id": run.mlflow_run_id}, timeout=10).json()["run"]  # noqa: E731
    wait_for(lambda: parent()["info"]["status"] == "FAILED", 60, "the parent run to end")
    # Bob asked to be told of failures: the failed job and the failed run, by email, from the worker.
    subject = f"[genomics] pipeline diamond run {first}: failed"
    wait_for(lambda: any(m.subject == subject for m in mail.outbox), 60, "the email of the failed run")

    # Re-run from the failure: what succeeded is kept, the failed branch runs again.
    gate.write_text("")
    response = client.post(f"/api/v1/pipeline-runs/{first}/rerun/", {"from_failed": True}, format="json")
    assert response.status_code == 201, response.json()
    second = response.json()["id"]
    done = wait_for(lambda: finished(client, second), 240, "the re-run to end")
    assert done["status"] == "succeeded", done
    kept = {s["name"] for s in done["steps"] if s["kept"]}
    assert kept == {"prepare", "train-a", "train-b", "evaluate", "solo"}

    # Cancel mid-run: the running step's job is cancelled, the one after it skipped.
    steps = [
        {"name": "sleeper", "command": python("import time; print('sleeping', flush=True); time.sleep(600)")},
        {"name": "never", "depends_on": ["sleeper"], "command": python("print('never')")},
    ]
    response = client.post(
        "/api/v1/pipelines/", {"project": "genomics", "name": "long", "steps": steps}, format="json"
    )
    third = response.json()["id"]
    sleeper = wait_for(
        lambda: (
            (s := StepRun.objects.get(run_id=third, name="sleeper")).job
            and s.job.status == JobStatus.RUNNING
            and s
        ),
        60,
        "the sleeper to run",
    )
    response = client.post(f"/api/v1/pipeline-runs/{third}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    done = wait_for(lambda: finished(client, third), 60, "the cancelled run to settle")
    assert {s["name"]: s["status"] for s in done["steps"]} == {"sleeper": "cancelled", "never": "skipped"}
    assert Job.objects.get(pk=sleeper.job_id).status == JobStatus.CANCELLED
