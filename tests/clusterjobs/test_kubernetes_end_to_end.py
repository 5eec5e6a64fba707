"""End to end on Kubernetes: jobs submitted through the API, dispatched by a real Celery worker
to the test API server, followed by the watcher loop through what the cluster reports (running,
Complete, OOMKilled, DeadlineExceeded, FailedCreate for an exceeded quota), their logs read
through the API and kept after the Job is gone, a cancel that deletes the Job with its Pods, a
reconcile that repairs missed events, and a duplicated dispatch that creates one Job."""

import time

import pytest
import requests
from rest_framework.test import APIClient

from clusterjobs import dispatch, tasks
from clusterjobs.models import Job, JobStatus
from portal.accounts.actions import authenticate_token
from portal.quotas.actions import ensure_quota

from .k8s_cases import DIGEST
from .watching import Watcher, wait_for

NS = "taller-genomics"


def status_of(pk: int) -> str:
    return Job.objects.get(pk=pk).status


def job_with(pk: int, status: str, timeout: float = 30) -> Job:
    return wait_for(
        lambda: (job := Job.objects.get(pk=pk)).status == status and job, timeout, f"job {pk} to be {status}"
    )


def running(api, name: str) -> None:
    api.container_state(
        NS, name, {"running": {"startedAt": "2026-11-26T10:00:00Z"}}, "Running", image_id=DIGEST
    )


def terminated(api, name: str, code: int, reason: str) -> None:
    state = {
        "exitCode": code,
        "reason": reason,
        "startedAt": "2026-11-26T10:00:00Z",
        "finishedAt": "2026-11-26T10:05:00Z",
    }
    api.container_state(
        NS, name, {"terminated": state}, "Succeeded" if code == 0 else "Failed", image_id=DIGEST
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_jobs_through_api_worker_cluster_and_watcher(personas, cluster, mlflow_uri, celery_worker):
    api = cluster.api
    quota = ensure_quota(personas.project)
    quota.max_running_jobs, quota.max_cpu = 10, 16
    quota.save()
    client = APIClient()
    client.force_authenticate(personas.bob)
    mlflow = f"{mlflow_uri}/api/2.0/mlflow"

    def submit(name: str) -> int:
        response = client.post(
            "/api/v1/jobs/",
            {
                "project": "genomics",
                "name": name,
                "image": "registry.example.edu/ml/train:1.0",
                "command": ["python", "train.py", "--epochs", "3"],
                "env": {"SEED": "7"},
                "resources": {"cpu": "1", "memory_mib": 1024},
                "time_limit_minutes": 30,
            },
            format="json",
        )
        assert response.status_code == 201, response.json()
        assert response.json()["status"] == "queued"
        pk = response.json()["id"]
        wait_for(lambda: api.get("jobs", NS, f"taller-{pk}"), 30, f"job {pk} on the cluster")
        return pk

    def run_status(pk: int) -> str:
        run_id = Job.objects.get(pk=pk).mlflow_run_id
        return requests.get(f"{mlflow}/runs/get", params={"run_id": run_id}, timeout=10).json()["run"][
            "info"
        ]["status"]

    watcher = Watcher(cluster.backend)
    try:
        # 1. Submitted, dispatched by the worker, followed to running and then succeeded.
        good = submit("good")
        manifest = api.get("jobs", NS, f"taller-{good}")
        job = job_with(good, JobStatus.PENDING)
        labels = manifest["metadata"]["labels"]
        assert (labels["taller.io/job"], labels["taller.io/project"]) == (str(good), "genomics")
        assert manifest["metadata"]["annotations"] == {"taller.io/uid": dispatch.job_uid(job)}
        container = manifest["spec"]["template"]["spec"]["containers"][0]
        env = api.container_env(NS, f"taller-{good}")  # the token from the job's Secret
        assert (
            env["MLFLOW_RUN_ID"] == job.mlflow_run_id
            and env["MLFLOW_EXPERIMENT_ID"] == job.mlflow_experiment_id
        )
        assert env["MLFLOW_TRACKING_URI"] and env["SEED"] == "7" and env["TALLER_JOB_ID"] == str(good)
        assert authenticate_token(env["MLFLOW_TRACKING_TOKEN"]) == job.mlflow_token
        assert container["resources"] == {
            "requests": {"cpu": "1", "memory": "1024Mi"},
            "limits": {"cpu": "1", "memory": "1024Mi"},
        }
        assert api.get("resourcequotas", NS, "taller-quota")["spec"]["hard"]["pods"] == "10"

        running(api, f"taller-{good}")
        job = job_with(good, JobStatus.RUNNING)
        assert job.image_digest == DIGEST and job.started_at is not None
        api.set_log(NS, f"taller-{good}", "epoch 1/3\nepoch 2/3\nepoch 3/3\ndone: test accuracy 0.97\n")
        logs = client.get(f"/api/v1/jobs/{good}/logs/?tail=2").json()
        assert logs == {"lines": ["epoch 3/3", "done: test accuracy 0.97"], "complete": False}
        terminated(api, f"taller-{good}", 0, "Completed")
        api.set_job_condition(NS, f"taller-{good}", "Complete")
        job_with(good, JobStatus.SUCCEEDED)
        # The end handling (final log, token, MLflow run) follows the move, in the watcher's thread.
        wait_for(lambda: run_status(good) == "FINISHED", 30, "the run to finish")
        job = Job.objects.get(pk=good)
        assert job.exit_code == 0 and job.status_reason == "completed"
        assert job.final_log.endswith("done: test accuracy 0.97")
        assert job.mlflow_token.revoked_at is not None
        # ttlSecondsAfterFinished: the cluster deletes the Job and its Pod; the log stays.
        api.delete("jobs", NS, f"taller-{good}", "Background")
        assert not api.pods_of(NS, f"taller-{good}")
        logs = client.get(f"/api/v1/jobs/{good}/logs/").json()
        assert logs["complete"] and logs["lines"][-1] == "done: test accuracy 0.97"

        # 2. Out of memory.
        oom = submit("oom")
        running(api, f"taller-{oom}")
        job_with(oom, JobStatus.RUNNING)
        terminated(api, f"taller-{oom}", 137, "OOMKilled")
        api.set_job_condition(
            NS,
            f"taller-{oom}",
            "Failed",
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        )
        job_with(oom, JobStatus.FAILED)
        # The pod's exit may reach the watcher just after the Job's failure: the job then gets it.
        job = wait_for(
            lambda: (job := Job.objects.get(pk=oom)).exit_code is not None and job, 30, "the exit code"
        )
        assert (job.status_reason, job.exit_code) == ("out of memory (OOMKilled)", 137)
        wait_for(lambda: run_status(oom) == "FAILED", 30, "the run to fail")

        # 3. Over its time limit.
        slow = submit("slow")
        running(api, f"taller-{slow}")
        job_with(slow, JobStatus.RUNNING)
        api.set_job_condition(
            NS,
            f"taller-{slow}",
            "Failed",
            "DeadlineExceeded",
            "Job was active longer than specified deadline",
        )
        assert job_with(slow, JobStatus.FAILED).status_reason == "time limit exceeded"

        # 4. The cluster's quota refuses the Pod (an admin lowered it on the cluster): the reason
        #    shows while the job is pending; then it is cancelled, which deletes the Job.
        hard = api.get("resourcequotas", NS, "taller-quota")
        hard["spec"]["hard"]["pods"] = "0"
        api.replace("resourcequotas", NS, "taller-quota", hard)
        starved = submit("starved")
        job = wait_for(
            lambda: "exceeded quota" in (j := Job.objects.get(pk=starved)).status_reason and j,
            30,
            "the quota reason",
        )
        assert job.status == JobStatus.PENDING
        assert job.status_reason.startswith(
            "the cluster did not create the pod: exceeded quota: taller-quota"
        )
        response = client.post(f"/api/v1/jobs/{starved}/cancel/")
        assert response.status_code == 200 and response.json()["status"] == "cancelled"
        assert api.get("jobs", NS, f"taller-{starved}") is None
        hard = api.get("resourcequotas", NS, "taller-quota")
        hard["spec"]["hard"]["pods"] = "10"
        api.replace("resourcequotas", NS, "taller-quota", hard)

        # 5. Cancel of a running job: the Job and its Pod are deleted, the log is kept.
        victim = submit("victim")
        running(api, f"taller-{victim}")
        job_with(victim, JobStatus.RUNNING)
        api.set_log(NS, f"taller-{victim}", "working\n")
        response = client.post(f"/api/v1/jobs/{victim}/cancel/")
        assert response.status_code == 200 and response.json()["status"] == "cancelled"
        deletes = [path for method, path in api.requests if method == "DELETE"]
        assert deletes[-1].startswith(f"/apis/batch/v1/namespaces/{NS}/jobs/taller-{victim}")
        assert api.get("jobs", NS, f"taller-{victim}") is None and not api.pods_of(NS, f"taller-{victim}")
        job = Job.objects.get(pk=victim)
        assert (job.status, job.status_reason, job.final_log) == (
            JobStatus.CANCELLED,
            "cancelled by bob",
            "working",
        )
        assert client.get(f"/api/v1/jobs/{victim}/logs/").json() == {"lines": ["working"], "complete": True}
        wait_for(lambda: run_status(victim) == "KILLED", 30, "the run to be killed")  # by the run sync task

        # 6. A duplicated dispatch (two deliveries of the task at once) creates one Job.
        twice = submit("twice")
        tasks.dispatch_job.delay(twice)
        tasks.dispatch_job.delay(twice)
        job_with(twice, JobStatus.PENDING)
        time.sleep(1)  # let the duplicates run out
        assert [j["metadata"]["name"] for j in api.items("jobs", NS)].count(f"taller-{twice}") == 1
        assert len(api.pods_of(NS, f"taller-{twice}")) == 1
        assert status_of(twice) == JobStatus.PENDING
    finally:
        watcher.close()

    # 7. Events missed while no watcher ran: the periodic reconcile repairs them.
    running(api, f"taller-{twice}")
    terminated(api, f"taller-{twice}", 0, "Completed")
    api.set_job_condition(NS, f"taller-{twice}", "Complete")
    assert status_of(twice) == JobStatus.PENDING
    counts = tasks.reconcile_jobs.apply().get()
    assert counts["moved"] == 1
    job = Job.objects.get(pk=twice)
    assert (job.status, job.exit_code, job.image_digest) == (JobStatus.SUCCEEDED, 0, DIGEST)
    assert [t.to_status for t in job.transitions.all()] == ["queued", "dispatching", "pending", "succeeded"]
