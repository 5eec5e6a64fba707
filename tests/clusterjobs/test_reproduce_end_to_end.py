"""Reproduce end to end on the local executor: a job from a git repository (a real git server), run
by a real Celery worker and followed by the watcher, logs into its MLflow run; its reproduction,
asked through the API, runs the same commit with the same parameters, and the two runs name each
other (``taller.reproduced_from`` on the new one, ``taller.reproduced_by`` on the original)."""

import pytest
import requests
from rest_framework.test import APIClient

from clusterjobs.models import Job, JobStatus

from .gitserver import serving
from .test_end_to_end import watcher  # noqa: F401 - the watch_jobs loop, as a fixture
from .watching import wait_for

TRAIN = """import mlflow

with mlflow.start_run():
    mlflow.log_param("lr", "0.05")
    mlflow.log_metric("answer", 42)
"""


def mlflow_run(mlflow_uri: str, run_id: str) -> tuple[dict, dict]:
    run = requests.get(f"{mlflow_uri}/api/2.0/mlflow/runs/get", params={"run_id": run_id}, timeout=10).json()
    data = run["run"]["data"]
    return {t["key"]: t["value"] for t in data.get("tags", [])}, {
        p["key"]: p["value"] for p in data["params"]
    }


def ended(pk: int) -> Job:
    return wait_for(lambda: Job.objects.get(pk=pk).is_terminal() and Job.objects.get(pk=pk), 240, "the job")


@pytest.mark.slow
@pytest.mark.usefixtures("watcher")
@pytest.mark.django_db(transaction=True)
def test_a_reproduction_runs_the_same_commit_and_params_and_the_runs_are_linked(
    personas, settings, mlflow_uri, celery_worker, tmp_path
):
    settings.TALLER_EXECUTOR = "local"
    settings.TALLER_JOB_TRACKING_URI = mlflow_uri
    settings.TALLER_LOCAL_POLL_SECONDS = 0.2
    client = APIClient()
    client.force_authenticate(personas.bob)
    with serving(tmp_path / "forge", settings, "lab", files={"train.py": TRAIN}) as (server, repo):
        response = client.post(
            "/api/v1/jobs/",
            {
                "project": "genomics",
                "name": "original",
                "command": ["python", "train.py"],
                "source": {"git": server.url("lab"), "ref": "main"},
                "resources": {"cpu": "1", "memory_mib": 1024},
                "time_limit_minutes": 10,
            },
            format="json",
        )
        assert response.status_code == 201, response.json()
        original = ended(response.json()["id"])
        assert original.status == JobStatus.SUCCEEDED, (original.status_reason, original.final_log)

        answer = client.post(
            "/api/v1/reproductions/", {"from": {"run": original.mlflow_run_id}}, format="json"
        )
        assert answer.status_code == 201, answer.json()
        again = ended(answer.json()["id"])
        assert again.status == JobStatus.SUCCEEDED, (again.status_reason, again.final_log)

    assert again.reproduced_from_id == original.pk and again.source == original.source
    assert again.source["commit"] == repo.commits["main"]
    new_tags, new_params = mlflow_run(mlflow_uri, again.mlflow_run_id)
    old_tags, old_params = mlflow_run(mlflow_uri, original.mlflow_run_id)
    assert new_params == old_params == {"lr": "0.05"}
    assert (
        new_tags["mlflow.source.git.commit"] == old_tags["mlflow.source.git.commit"] == repo.commits["main"]
    )
    assert new_tags["taller.reproduced_from"] == original.mlflow_run_id
    wait_for(
        lambda: (
            mlflow_run(mlflow_uri, original.mlflow_run_id)[0].get("taller.reproduced_by")
            == again.mlflow_run_id
        ),
        60,
        "the original run's reproduced_by tag",
    )
    shown = client.get(f"/api/v1/jobs/{original.pk}/provenance/").json()
    assert shown["run"]["reproduced_by_run"] == again.mlflow_run_id
    assert [r["id"] for r in shown["job"]["reproductions"]] == [again.pk]
    assert shown["parameters"] == {"lr": "0.05"}
