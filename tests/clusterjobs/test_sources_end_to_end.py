"""End to end on the local executor: a job whose code is in a private git repository (served by a
real git server behind basic auth), submitted through the API with the project's credential, run by
a real Celery worker and followed by the watcher to `succeeded`; its training code logs into its
MLflow run, which records the commit and the repository in MLflow's own source tags."""

import pytest
import requests
from rest_framework.test import APIClient

from clusterjobs.models import Job, JobStatus
from clusterjobs.sources import actions as source_actions

from .gitserver import DEPLOY, serving
from .test_end_to_end import watcher  # noqa: F401 - the watch_jobs loop, as a fixture
from .watching import wait_for

TRAIN = """import os
import mlflow

with mlflow.start_run():
    mlflow.log_param("code", "from git")
    mlflow.log_metric("answer", 42)
print("ran in", os.getcwd(), "token seen:", "TALLER_GIT_TOKEN" in os.environ)
"""


@pytest.mark.slow
@pytest.mark.usefixtures("watcher")
@pytest.mark.django_db(transaction=True)
def test_a_private_repository_runs_and_its_run_records_the_commit(
    personas, settings, mlflow_uri, celery_worker, tmp_path
):
    settings.TALLER_EXECUTOR = "local"
    settings.TALLER_JOB_TRACKING_URI = mlflow_uri
    settings.TALLER_LOCAL_POLL_SECONDS = 0.2
    with serving(tmp_path / "forge", settings, "lab", DEPLOY, files={"train.py": TRAIN}) as (server, repo):
        source_actions.set_credential(personas.alice, personas.project, username=DEPLOY[0], token=DEPLOY[1])
        client = APIClient()
        client.force_authenticate(personas.bob)
        response = client.post(
            "/api/v1/jobs/",
            {
                "project": "genomics",
                "name": "from git",
                "command": ["python", "train.py"],
                "source": {"git": server.url("lab"), "ref": "main"},
                "resources": {"cpu": "1", "memory_mib": 1024},
                "time_limit_minutes": 10,
            },
            format="json",
        )
        assert response.status_code == 201, response.json()
        pk = response.json()["id"]
        done = wait_for(
            lambda: Job.objects.get(pk=pk).is_terminal() and Job.objects.get(pk=pk), 240, "the job"
        )

    assert done.status == JobStatus.SUCCEEDED, (done.status_reason, done.final_log)
    workspace = settings.VAR_DIR / "jobs" / str(pk) / "workspace"
    assert f"ran in {workspace} token seen: False" in done.final_log
    assert DEPLOY[1] not in done.final_log
    run = requests.get(
        f"{mlflow_uri}/api/2.0/mlflow/runs/get", params={"run_id": done.mlflow_run_id}, timeout=10
    ).json()["run"]
    tags = {tag["key"]: tag["value"] for tag in run["data"]["tags"]}
    assert tags["mlflow.source.git.commit"] == repo.commits["main"]
    assert tags["mlflow.source.git.repoURL"] == server.url("lab")
    assert {p["key"]: p["value"] for p in run["data"]["params"]} == {"code": "from git"}
