"""A job's MLflow run starts when the job goes to its backend, not at submission: the time the job
waited in the portal's queue is recorded on the run (``taller.queue_seconds``), not inside it. On
the real local backend and a real MLflow server; MLflow being down delays the dispatch (the job is
not created without its run), and a retried dispatch never makes a second run."""

from datetime import datetime, timedelta

import pytest
import requests
from django.utils import timezone

from clusterjobs import actions, dispatch, sync
from clusterjobs.backends import BackendError, BackendStatus
from clusterjobs.models import Job, JobStatus
from clusterjobs.validation import check_request
from experiments import gateway
from portal.accounts.actions import create_token
from tests.conftest import free_port

from .factories import claim_gone_stale


def submitted(personas, spec, **changes) -> Job:
    request = check_request(personas.bob, personas.project, **{**spec, **changes})
    return actions.submit_job(personas.bob, personas.project, request)


def admitted_after_waiting(job: Job, waited: timedelta) -> datetime:
    """The job as admission leaves it (dispatching), submitted ``waited`` ago; returns when."""
    submitted_at = timezone.now() - waited
    Job.objects.filter(pk=job.pk).update(created_at=submitted_at, status=JobStatus.DISPATCHING)
    return submitted_at


def run_of(mlflow_uri: str, run_id: str) -> dict:
    return requests.get(
        f"{mlflow_uri}/api/2.0/mlflow/runs/get", params={"run_id": run_id}, timeout=10
    ).json()["run"]


def tags_of(run: dict) -> dict[str, str]:
    return {tag["key"]: tag["value"] for tag in run["data"]["tags"]}


def job_runs(mlflow_uri: str, job: Job) -> list[dict]:
    body = {"experiment_ids": [job.mlflow_experiment_id], "filter": f"tags.`taller.job_id` = '{job.pk}'"}
    return (
        requests.post(f"{mlflow_uri}/api/2.0/mlflow/runs/search", json=body, timeout=10)
        .json()
        .get("runs", [])
    )


@pytest.mark.django_db
def test_the_run_starts_when_the_job_is_dispatched_and_records_how_long_it_waited(
    personas, spec, mlflow_uri, local
):
    job = submitted(personas, spec, command=["python", "-c", "import os; print(os.environ['MLFLOW_RUN_ID'])"])
    job.refresh_from_db()
    assert job.mlflow_experiment_id and not job.mlflow_run_id  # waiting in the queue: no run yet
    submitted_at = admitted_after_waiting(job, timedelta(minutes=5, seconds=3))
    assert dispatch.dispatch(job.pk) == "submitted"
    job.refresh_from_db()
    run = run_of(mlflow_uri, job.mlflow_run_id)
    # The run starts when the job was handed to its backend, after its five minutes in the queue.
    assert int(run["info"]["start_time"]) == int(job.dispatched_at.timestamp() * 1000)
    assert run["info"]["experiment_id"] == job.mlflow_experiment_id
    tags = tags_of(run)
    waited = (job.dispatched_at - submitted_at).total_seconds()
    assert tags["taller.queue_seconds"] == f"{waited:.0f}" and waited >= 303
    assert tags["taller.submitted_at"] == submitted_at.isoformat()
    assert (tags["taller.job_id"], tags["taller.project"], tags["mlflow.user"]) == (
        str(job.pk),
        "genomics",
        "bob",
    )
    # The job logs into that run.
    assert local.wait(job.pk, 30).phase == "succeeded"
    assert local.logs(job.pk, "") == [job.mlflow_run_id]
    # When the backend says the process started, the run records it too.
    started = job.dispatched_at + timedelta(seconds=2)
    assert sync.apply_status(BackendStatus(job.pk, "running", started_at=started))
    assert tags_of(run_of(mlflow_uri, job.mlflow_run_id))["taller.started_at"] == started.isoformat()
    assert len(job_runs(mlflow_uri, job)) == 1


@pytest.mark.django_db
def test_mlflow_down_at_dispatch_delays_the_job_and_loses_no_run(personas, spec, mlflow_uri, local, settings):
    job = submitted(personas, spec, command=["python", "-c", "print('ran')"])
    admitted_after_waiting(job, timedelta(seconds=30))
    settings.MLFLOW_TRACKING_URI = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(BackendError) as raised:
        dispatch.dispatch(job.pk, attempt="first")
    assert not raised.value.permanent  # the dispatch task retries it
    assert "MLflow" in str(raised.value)
    job.refresh_from_db()
    assert (job.status, job.mlflow_run_id) == (JobStatus.DISPATCHING, "")
    assert local.status(job.pk, "genomics").phase == "missing"  # never started without its run
    # MLflow is back: the retry creates the run and the job.
    settings.MLFLOW_TRACKING_URI = mlflow_uri
    assert dispatch.dispatch(job.pk, attempt="first") == "submitted"
    job.refresh_from_db()
    assert (
        job.status == JobStatus.PENDING
        and run_of(mlflow_uri, job.mlflow_run_id)["info"]["status"] == "RUNNING"
    )
    assert local.wait(job.pk, 30).phase == "succeeded"


@pytest.mark.django_db
def test_a_retried_dispatch_keeps_the_run_an_earlier_attempt_created(personas, spec, mlflow_uri, local):
    """The earlier attempt gave the job its token and created its run, then died before recording
    the run: the retry finds that run rather than making a second one."""
    job = submitted(personas, spec, command=["python", "-c", "import os; print(os.environ['MLFLOW_RUN_ID'])"])
    admitted_after_waiting(job, timedelta(seconds=30))
    job.refresh_from_db()
    token, _key = create_token(personas.bob, f"job {job.pk}", project=personas.project)
    Job.objects.filter(pk=job.pk).update(mlflow_token=token, backend="local", dispatch_claim="dead")
    claim_gone_stale(job.pk)
    earlier = gateway.start_job_run(
        "genomics", job.mlflow_experiment_id, job.pk, "earlier", "bob", start_time_ms=1_000
    )
    assert dispatch.dispatch(job.pk) == "submitted"
    job.refresh_from_db()
    assert job.mlflow_run_id == earlier
    assert local.wait(job.pk, 30).phase == "succeeded" and local.logs(job.pk, "") == [earlier]
    assert [run["info"]["run_id"] for run in job_runs(mlflow_uri, job)] == [earlier]


@pytest.mark.django_db
def test_a_job_cancelled_while_it_waits_has_no_run(personas, spec, mlflow_uri):
    job = submitted(personas, spec)
    assert actions.cancel_job(personas.bob, job)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and not job.mlflow_run_id
    assert job_runs(mlflow_uri, job) == []
