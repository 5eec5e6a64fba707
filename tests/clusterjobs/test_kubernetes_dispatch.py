"""dispatch.dispatch on the Kubernetes backend, against the test API server: the requests it makes
(the project prepared once per change of its limits, no status look for a job never submitted),
the Job it creates, and its idempotency when duplicated or retried after a worker died."""

import threading
import time

import pytest
from django.db import connection

from clusterjobs import dispatch, tasks
from clusterjobs.models import Job, JobStatus, JobTransition
from portal.accounts.actions import authenticate_token, create_token
from portal.quotas.actions import ensure_quota

from .factories import JobFactory, claim_gone_stale

NS = "taller-genomics"


def admitted(personas, **fields) -> Job:
    values = {"mlflow_run_id": "run123", "mlflow_experiment_id": "7", "env": {"SEED": "42"}, **fields}
    return JobFactory(
        project=personas.project, submitter=personas.bob, status=JobStatus.DISPATCHING, **values
    )


def calls(cluster, since: int = 0) -> list[tuple[str, str]]:
    return [(method, path.split("?")[0]) for method, path in cluster.api.requests[since:]]


JOBS = f"/apis/batch/v1/namespaces/{NS}/jobs"
# Creating a job: its Job, then the Secret (owned by the Job) with its token.
CREATE = [("POST", JOBS), ("POST", f"/api/v1/namespaces/{NS}/secrets")]


def foreign_job(personas, k8s, job: Job, uid: str) -> None:
    """A Job named like ``job``'s, with its labels but another uid, made by someone else."""
    other = admitted(personas)
    assert dispatch.dispatch(other.pk) == "submitted"
    foreign = k8s.api.get("jobs", NS, f"taller-{other.pk}")
    foreign["metadata"] = {
        "name": f"taller-{job.pk}",
        "labels": {"taller.io/job": str(job.pk), "taller.io/project": "genomics"},
        "annotations": {"taller.io/uid": uid},
    }
    foreign.pop("status", None)
    k8s.api.create("jobs", NS, foreign)


PREPARE = [
    ("POST", "/api/v1/namespaces"),
    ("POST", f"/api/v1/namespaces/{NS}/resourcequotas"),
    ("POST", f"/api/v1/namespaces/{NS}/limitranges"),
]


@pytest.mark.django_db
def test_first_dispatch_prepares_the_project_then_creates_the_job(personas, k8s):
    job = admitted(personas)

    assert tasks.dispatch_job.apply(args=(job.pk,)).get() == "submitted"

    # No status look (the job never had a token, so no attempt can have created it), the
    # namespace with its quota and limits, then the Job.
    assert calls(k8s) == [*PREPARE, *CREATE]
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING and job.backend == "kubernetes"
    created = k8s.api.get("jobs", NS, f"taller-{job.pk}")
    assert created["metadata"]["labels"]["taller.io/job"] == str(job.pk)
    assert created["metadata"]["labels"]["taller.io/project"] == "genomics"
    assert created["metadata"]["annotations"] == {"taller.io/uid": dispatch.job_uid(job)}
    env = k8s.api.container_env(NS, f"taller-{job.pk}")
    assert env["MLFLOW_TRACKING_URI"] == "https://portal.example.edu/mlflow"
    assert (env["MLFLOW_RUN_ID"], env["MLFLOW_EXPERIMENT_ID"], env["SEED"]) == ("run123", "7", "42")
    assert (env["TALLER_JOB_ID"], env["TALLER_PROJECT"]) == (str(job.pk), "genomics")
    assert authenticate_token(env["MLFLOW_TRACKING_TOKEN"]) == job.mlflow_token
    # The token reaches the pod from the Secret: the Job spec has no value for it.
    assert job.mlflow_token.prefix not in str(created)
    quota = k8s.api.get("resourcequotas", NS, "taller-quota")
    assert quota["spec"]["hard"]["pods"] == str(ensure_quota(personas.project).max_running_jobs)


@pytest.mark.django_db
def test_later_dispatches_make_one_request_until_the_limits_change(personas, k8s):
    dispatch.dispatch(admitted(personas).pk)
    start = len(k8s.api.requests)
    dispatch.dispatch(admitted(personas).pk)
    assert calls(k8s, start) == CREATE

    quota = ensure_quota(personas.project)
    quota.max_cpu = 3
    quota.save()
    start = len(k8s.api.requests)
    dispatch.dispatch(admitted(personas, cpu=1).pk)
    # The changed quota reaches the cluster before the next Job; the namespace is left as it is.
    assert ("PUT", f"/api/v1/namespaces/{NS}/resourcequotas/taller-quota") in calls(k8s, start)
    assert ("PUT", f"/api/v1/namespaces/{NS}/limitranges/taller-limits") in calls(k8s, start)
    assert calls(k8s, start)[-2:] == CREATE
    assert k8s.api.get("resourcequotas", NS, "taller-quota")["spec"]["hard"]["limits.cpu"] == "3"
    start = len(k8s.api.requests)
    dispatch.dispatch(admitted(personas).pk)
    assert calls(k8s, start) == CREATE


@pytest.mark.django_db
def test_a_namespace_deleted_behind_the_portals_back_gets_its_quota_before_the_job(personas, k8s):
    dispatch.dispatch(admitted(personas).pk)
    for plural, name in (("resourcequotas", "taller-quota"), ("limitranges", "taller-limits")):
        k8s.api.delete(plural, NS, name, "Background")
    k8s.api.delete("namespaces", "", NS, "Background")
    start = len(k8s.api.requests)

    job = admitted(personas)
    assert dispatch.dispatch(job.pk) == "submitted"

    # The portal still believed the project prepared: the Job's 404 makes it prepare it in full.
    assert calls(k8s, start) == [("POST", JOBS), *PREPARE, *CREATE]
    assert k8s.api.get("resourcequotas", NS, "taller-quota") and k8s.api.get(
        "limitranges", NS, "taller-limits"
    )


@pytest.mark.django_db
def test_duplicated_dispatch_creates_one_job(personas, k8s):
    job = admitted(personas)
    assert tasks.dispatch_job.apply(args=(job.pk,)).get() == "submitted"
    assert tasks.dispatch_job.apply(args=(job.pk,)).get() == "skipped"
    assert [j["metadata"]["name"] for j in k8s.api.items("jobs", NS)] == [f"taller-{job.pk}"]
    assert len(k8s.api.items("pods", NS)) == 1


@pytest.mark.django_db
def test_worker_killed_between_submit_and_status_update_adopts_its_job(personas, k8s):
    job = admitted(personas)
    assert dispatch.dispatch(job.pk) == "submitted"
    token = Job.objects.get(pk=job.pk).mlflow_token
    # What the dead worker never committed: the move to pending (its claim, since gone stale).
    Job.objects.filter(pk=job.pk).update(status=JobStatus.DISPATCHING)
    JobTransition.objects.filter(job=job, to_status=JobStatus.PENDING).delete()
    claim_gone_stale(job.pk)
    start = len(k8s.api.requests)

    assert tasks.dispatch_job.apply(args=(job.pk,)).get() == "found"

    # The retry (the job has a token) looked, found its own uid, and created nothing.
    assert ("GET", f"{JOBS}/taller-{job.pk}") in calls(k8s, start)
    assert not [c for c in calls(k8s, start) if c[0] == "POST"]
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING and job.status_reason == "starting"
    assert (
        job.transitions.filter(to_status=JobStatus.PENDING).get().reason
        == f"found on the backend as taller-{job.pk}"
    )
    assert job.mlflow_token == token and token.revoked_at is None
    assert len(k8s.api.items("jobs", NS)) == 1 and len(k8s.api.items("pods", NS)) == 1


@pytest.mark.django_db
def test_worker_killed_before_submit_looks_then_submits_with_a_fresh_token(personas, k8s):
    old, _key = create_token(personas.bob, "job", project=personas.project)
    job = admitted(personas, mlflow_token=old, backend="kubernetes")

    assert dispatch.dispatch(job.pk) == "submitted"

    assert calls(k8s)[0] == ("GET", f"{JOBS}/taller-{job.pk}")  # missing: nothing to adopt
    assert calls(k8s)[-2:] == CREATE
    job.refresh_from_db()
    old.refresh_from_db()
    assert old.revoked_at is not None and job.mlflow_token != old
    assert len(k8s.api.items("jobs", NS)) == 1


@pytest.mark.django_db
def test_a_job_of_another_portal_under_the_same_name_fails_the_dispatch(personas, k8s):
    job = admitted(personas)
    # Another portal database made a Job named like ours (same id, different uid).
    foreign_job(personas, k8s, job, "elsewhere")

    assert tasks.dispatch_job.apply(args=(job.pk,)).get() == "failed"
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.status_reason.startswith("the backend refused the job: a different Job named")
    assert k8s.api.get("jobs", NS, f"taller-{job.pk}")["metadata"]["annotations"] == {
        "taller.io/uid": "elsewhere"
    }


@pytest.mark.django_db(transaction=True)
def test_the_first_jobs_of_a_project_dispatched_together_prepare_it_once(personas, k8s):
    jobs = [admitted(personas) for _ in range(4)]
    # The namespace's creation is slow to answer: the other first jobs come meanwhile.
    answer = k8s.api.pause("POST", "/api/v1/namespaces")
    start = threading.Barrier(len(jobs))
    outcomes: list[str] = []

    def dispatch_one(job_id: int) -> None:
        try:
            start.wait()
            outcomes.append(dispatch.dispatch(job_id))
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatch_one, args=(job.pk,)) for job in jobs]
    for thread in threads:
        thread.start()
    time.sleep(1)  # the window in which the others would prepare the project too
    answer.set()
    for thread in threads:
        thread.join(timeout=30)

    assert outcomes == ["submitted"] * 4
    made = [call for call in calls(k8s) if call[0] in ("POST", "PUT")]
    assert made.count(("POST", "/api/v1/namespaces")) == 1
    assert made.count(("POST", f"/api/v1/namespaces/{NS}/resourcequotas")) == 1
    assert made.count(("POST", f"/api/v1/namespaces/{NS}/limitranges")) == 1
    assert made.count(("POST", JOBS)) == 4
    # Nothing else but each job's own Secret, created after its Job.
    assert made.count(("POST", f"/api/v1/namespaces/{NS}/secrets")) == 4 and len(made) == 11


@pytest.mark.django_db
def test_a_retried_dispatch_that_meets_another_jobs_uid_does_not_adopt_it(personas, k8s):
    # An earlier attempt handed the job a token (so the retry looks before it submits) and died.
    old, _key = create_token(personas.bob, "job", project=personas.project)
    job = admitted(personas, mlflow_token=old, backend="kubernetes")
    claim_gone_stale(job.pk)
    # Meanwhile a Job of this name, with this job's labels but another uid, is on the cluster.
    foreign_job(personas, k8s, job, "another-job")
    start = len(k8s.api.requests)

    assert tasks.dispatch_job.apply(args=(job.pk,)).get() == "failed"

    # It looked, found another uid, and neither adopted nor replaced it.
    assert calls(k8s, start)[0] == ("GET", f"{JOBS}/taller-{job.pk}")
    assert not [c for c in calls(k8s, start) if c[0] in ("POST", "PUT", "DELETE")]
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert (
        f"taller-{job.pk} already exists on the backend for another job (uid another-job)"
        in job.status_reason
    )
    assert not job.transitions.filter(to_status=JobStatus.PENDING).exists()
    assert k8s.api.get("jobs", NS, f"taller-{job.pk}")["metadata"]["annotations"] == {
        "taller.io/uid": "another-job"
    }
