"""Dispatch on the real local backend: idempotent (twice, or again after a worker died between the
backend submit and the status update), job env with the MLflow run and a job-scoped token, retries
on retryable errors, a clear failure when they run out or the error is permanent; reconcile and
queue draining repair what lost events left behind."""

import json
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone, translation

from clusterjobs import actions, dispatch, tasks
from clusterjobs.models import Job, JobStatus, JobTransition
from portal.accounts.actions import authenticate_token, create_token
from portal.accounts.models import ApiToken

from .factories import JobFactory, claim_gone_stale

PRINT_ENV = (
    "import os; [print(k + '=' + os.environ.get(k, '')) for k in "
    "('MLFLOW_TRACKING_URI', 'MLFLOW_TRACKING_TOKEN', 'MLFLOW_RUN_ID', 'MLFLOW_EXPERIMENT_ID', 'TALLER_JOB_ID', 'SEED')]"
)


def admitted(personas, **kwargs) -> Job:
    """An admitted job whose run exists (dispatch makes none); with no experiment either, it has no
    run at all, and nothing here reaches MLflow."""
    fields = {"mlflow_run_id": "run123", "mlflow_experiment_id": "7", **kwargs}
    return JobFactory(
        project=personas.project, submitter=personas.bob, status=JobStatus.DISPATCHING, **fields
    )


def env_of(backend, job: Job) -> dict:
    status = backend.wait(job.pk, 30)
    assert status.phase == "succeeded", backend.logs(job.pk, "")
    return dict(line.split("=", 1) for line in backend.logs(job.pk, ""))


@pytest.mark.django_db
def test_dispatch_hands_the_job_its_run_and_a_scoped_token(personas, local, settings):
    job = admitted(personas, command=["python", "-c", PRINT_ENV], env={"SEED": "42"})
    assert tasks.dispatch_job.apply(args=(job.pk,)).get() == "submitted"
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING and job.backend == "local"
    assert job.status_reason == f"created on the backend as taller-{job.pk}"
    env = env_of(local, job)
    assert env["MLFLOW_TRACKING_URI"] == settings.TALLER_JOB_TRACKING_URI
    assert (env["MLFLOW_RUN_ID"], env["MLFLOW_EXPERIMENT_ID"], env["TALLER_JOB_ID"]) == (
        "run123",
        "7",
        str(job.pk),
    )
    assert env["SEED"] == "42"
    token = authenticate_token(env["MLFLOW_TRACKING_TOKEN"])
    assert token == job.mlflow_token and token.project == personas.project and token.user == personas.bob


@pytest.mark.django_db
def test_dispatch_twice_starts_the_job_once(personas, local):
    job = admitted(personas, command=["python", "-c", "print('started')"])
    assert dispatch.dispatch(job.pk) == "submitted"
    assert dispatch.dispatch(job.pk) == "skipped"  # a duplicated task: the job is no longer dispatching
    assert local.wait(job.pk, 30).phase == "succeeded"
    assert local.logs(job.pk, "") == ["started"]
    assert ApiToken.objects.filter(project=personas.project).count() == 1


@pytest.mark.django_db
def test_worker_killed_between_submit_and_status_update(personas, local):
    """The worker created the job on the backend, then died before recording it: the redelivered
    task finds it there, records it, keeps the token the job was given, and starts nothing twice."""
    job = admitted(
        personas, command=["python", "-c", "import time; print('once', flush=True); time.sleep(2)"]
    )
    assert dispatch.dispatch(job.pk) == "submitted"
    token = Job.objects.get(pk=job.pk).mlflow_token
    # Undo what the dead worker never committed: the move to pending. Its claim was committed:
    # a redelivery right away leaves the job alone; once the claim is stale, it is adopted.
    Job.objects.filter(pk=job.pk).update(status=JobStatus.DISPATCHING)
    JobTransition.objects.filter(job=job, to_status=JobStatus.PENDING).delete()
    assert tasks.dispatch_job.apply(args=(job.pk,)).get() == "skipped"
    claim_gone_stale(job.pk)
    assert tasks.dispatch_job.apply(args=(job.pk,)).get() == "found"
    job.refresh_from_db()
    assert job.status in (JobStatus.PENDING, JobStatus.RUNNING)
    assert (
        job.transitions.filter(to_status=JobStatus.PENDING).get().reason
        == f"found on the backend as taller-{job.pk}"
    )
    assert job.mlflow_token == token and ApiToken.objects.get(pk=token.pk).revoked_at is None
    assert local.wait(job.pk, 30).phase == "succeeded"
    assert local.logs(job.pk, "") == ["once"]
    runner = json.loads((local.control(job.pk) / "runner.json").read_text())
    assert runner["pid"] > 0


@pytest.mark.django_db
def test_worker_killed_before_submit_gets_a_fresh_token(personas, local):
    """The worker made the token, then died before the backend submit: the retry revokes that token
    (its key is lost) and hands the job a new one."""
    old, _key = create_token(personas.bob, "job", project=personas.project)
    job = admitted(personas, command=["python", "-c", PRINT_ENV], mlflow_token=old)
    assert dispatch.dispatch(job.pk) == "submitted"
    job.refresh_from_db()
    old.refresh_from_db()
    assert old.revoked_at is not None and job.mlflow_token != old
    assert authenticate_token(env_of(local, job)["MLFLOW_TRACKING_TOKEN"]) == job.mlflow_token


@pytest.mark.django_db
def test_out_of_retries_fails_clearly(personas, local, settings, django_capture_on_commit_callbacks):
    # A real failure: the jobs folder cannot be created (a file is in the way).
    (settings.VAR_DIR / "jobs").write_text("not a folder")
    job = admitted(personas)
    with django_capture_on_commit_callbacks(execute=True):
        result = tasks.dispatch_job.apply(args=(job.pk,), retries=settings.TALLER_DISPATCH_MAX_RETRIES)
    assert result.get() == "failed"
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    attempts = settings.TALLER_DISPATCH_MAX_RETRIES + 1
    assert job.status_reason.startswith(f"could not be created on the backend after {attempts} attempts: ")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_retryable_error_is_retried_by_the_worker_with_backoff(personas, local, settings, celery_worker):
    settings.TALLER_DISPATCH_MAX_RETRIES = 1
    jobs_folder = settings.VAR_DIR / "jobs"
    jobs_folder.write_text("not a folder")
    job = admitted(personas, mlflow_run_id="", mlflow_experiment_id="")
    tasks.dispatch_job.delay(job.pk)
    deadline = time.monotonic() + 60
    while Job.objects.get(pk=job.pk).status == JobStatus.DISPATCHING:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.status_reason.startswith("could not be created on the backend after 2 attempts: ")
    assert "Not a directory" in job.status_reason
    assert time.monotonic() - (deadline - 60) >= tasks.backoff(0) - 1  # it waited before the retry


@pytest.mark.django_db
def test_permanent_backend_error_fails_at_once(personas, local):
    job = admitted(personas)
    # Something else already holds this job's name on the backend (another portal database?).
    control = local.control(job.pk)
    control.mkdir(parents=True)
    (control / "spec.json").write_text(json.dumps({"uid": "someone-else"}))
    assert tasks.dispatch_job.apply(args=(job.pk,)).get() == "failed"
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.status_reason.startswith(
        f"the backend refused the job: taller-{job.pk} already exists on the backend for another job"
    )


@pytest.mark.django_db
def test_cancelled_while_dispatching_is_not_started(personas, local):
    job = admitted(personas, command=["sleep", "30"])
    actions.cancel_job(personas.bob, job)
    assert dispatch.dispatch(job.pk) == "skipped"
    assert local.status(job.pk, "").phase == "missing"


@pytest.mark.django_db
def test_reconcile_repairs_missed_events_and_the_drain_lost_dispatches(
    personas, local, monkeypatch, settings
):
    sent = []
    monkeypatch.setattr(
        tasks.dispatch_job, "apply_async", lambda args, kwargs=None, **options: sent.append(args[0])
    )
    # A job that ran and ended while no watcher was looking.
    job = admitted(personas, command=["python", "-c", "print('done')"])
    dispatch.dispatch(job.pk)
    local.wait(job.pk, 30)
    # A job admitted long ago whose dispatch message was lost.
    lost = admitted(personas)
    JobTransition.objects.filter(job=lost).update(at=timezone.now() - timedelta(hours=1))
    fresh = admitted(personas)  # admitted just now: its dispatch may still be on its way
    counts = tasks.reconcile_jobs.apply().get()
    assert counts == {"skipped": 0, "checked": 1, "moved": 1, "cancelled": 0, "released": 0}
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.final_log == "done"
    # Reconcile leaves lost dispatches to the drain, which sends the lost one again, not the fresh one.
    assert sent == []
    assert tasks.drain_queues.apply().get() == [lost.pk]
    assert sent == [lost.pk] and fresh.pk not in sent


@pytest.mark.django_db
def test_drain_queues_admits_what_a_lost_commit_hook_left(personas, monkeypatch):
    sent = []
    monkeypatch.setattr(
        tasks.dispatch_job, "apply_async", lambda args, kwargs=None, **options: sent.append(args[0])
    )
    job = JobFactory(project=personas.project)
    assert tasks.drain_queues.apply().get() == [job.pk]
    assert Job.objects.get(pk=job.pk).status == JobStatus.DISPATCHING and sent == [job.pk]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_failed_attempt_says_why_and_holds_the_job_for_its_retry(personas, local, settings, celery_worker):
    jobs_folder = settings.VAR_DIR / "jobs"
    jobs_folder.write_text("not a folder")  # the backend fails until someone clears the way
    job = admitted(
        personas, command=["python", "-c", "print('at last')"], mlflow_run_id="", mlflow_experiment_id=""
    )
    tasks.dispatch_job.delay(job.pk)
    deadline = time.monotonic() + 60
    while not Job.objects.get(pk=job.pk).status_reason.startswith("dispatch failed, retrying: "):
        assert time.monotonic() < deadline, Job.objects.get(pk=job.pk).status_reason
        time.sleep(0.1)
    job.refresh_from_db()
    assert job.status == JobStatus.DISPATCHING and "Not a directory" in job.status_reason
    with translation.override("es"):  # stored in English, shown in the reader's language
        assert job.get_status_reason_display().startswith("falló el envío, se reintenta: ")
    assert dispatch.dispatch(job.pk) == "skipped"  # a duplicate task leaves the job to the retry
    jobs_folder.unlink()
    while Job.objects.get(pk=job.pk).status == JobStatus.DISPATCHING:
        assert time.monotonic() < deadline + 60
        time.sleep(0.2)
    assert local.wait(job.pk, 30).phase == "succeeded" and local.logs(job.pk, "") == ["at last"]
    assert job.transitions.filter(to_status=JobStatus.PENDING).get().reason == (
        f"created on the backend as taller-{job.pk}"
    )


@pytest.mark.django_db
def test_drain_dispatches_again_what_no_live_attempt_holds(personas, monkeypatch, settings):
    sent = []
    monkeypatch.setattr(
        tasks.dispatch_job, "apply_async", lambda args, kwargs=None, **options: sent.append(args[0])
    )
    now = timezone.now()
    claim = timedelta(seconds=settings.TALLER_DISPATCH_CLAIM_SECONDS)

    def admitted_at(at, **claim_fields) -> Job:
        job = admitted(personas, **claim_fields)
        JobTransition.objects.filter(job=job).update(at=at)
        return job

    # Its worker died mid-dispatch: nothing renews the claim any more.
    died = admitted_at(now - timedelta(minutes=2), dispatch_claim="a", dispatch_claimed_until=now)
    # Its message was lost before any worker claimed it.
    lost = admitted_at(now - claim - timedelta(seconds=1))
    # An attempt is dispatching it now, or it waits for its retry.
    working = admitted_at(now - timedelta(minutes=2), dispatch_claim="b", dispatch_claimed_until=now + claim)
    # Admitted a moment ago: its message is on its way.
    fresh = admitted_at(now)
    assert sorted(tasks.drain_queues.apply().get()) == sorted([died.pk, lost.pk])
    assert sorted(sent) == sorted([died.pk, lost.pk]) and {working.pk, fresh.pk}.isdisjoint(sent)


@pytest.mark.django_db(transaction=True)
def test_an_attempt_slower_than_its_claim_keeps_it(personas, local, settings):
    """An attempt renews its claim while it works, so that a second attempt does not take over a
    job that is still being created (its token would be revoked under the first)."""
    import fcntl

    settings.TALLER_DISPATCH_CLAIM_SECONDS = 2
    job = admitted(
        personas, command=["python", "-c", "print('once')"], mlflow_run_id="", mlflow_experiment_id=""
    )
    control = local.control(job.pk)
    control.mkdir(parents=True)
    outcomes = []
    with open(control / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another submit of this job is under way: ours waits
        first = threading.Thread(target=lambda: outcomes.append(dispatch.dispatch(job.pk)))
        first.start()
        time.sleep(5)  # more than twice the claim
        assert dispatch.dispatch(job.pk) == "skipped"
    first.join(timeout=60)
    assert outcomes == ["submitted"]
    assert local.wait(job.pk, 30).phase == "succeeded" and local.logs(job.pk, "") == ["once"]
    assert ApiToken.objects.filter(project=personas.project, revoked_at__isnull=True).count() == 1


@pytest.mark.django_db
def test_worker_killed_between_the_spec_and_the_runner(personas, local):
    """The worker wrote the job's spec on the backend, then died before starting its runner: the
    job is not taken for started (it would wait as pending for ever); the next attempt starts it,
    with a live token."""
    old, _key = create_token(personas.bob, "job", project=personas.project)
    job = admitted(personas, command=["python", "-c", PRINT_ENV], mlflow_token=old)
    control = local.control(job.pk)
    control.mkdir(parents=True)
    (control / "spec.json").write_text(json.dumps({"job_id": job.pk, "uid": dispatch.job_uid(job)}))
    assert local.status(job.pk, "").phase == "missing"
    assert dispatch.dispatch(job.pk) == "submitted"
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING and job.mlflow_token != old
    assert authenticate_token(env_of(local, job)["MLFLOW_TRACKING_TOKEN"]) == job.mlflow_token
