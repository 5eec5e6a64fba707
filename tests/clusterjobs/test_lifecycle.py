"""What the backend says, applied to jobs: moves with readable reasons, times and exit codes,
idempotent, terminal jobs never move again, and what follows a job's end."""

from datetime import UTC, datetime

import pytest
import requests
from django.db import transaction
from django.utils import timezone

from clusterjobs import actions, runs, sync, tasks
from clusterjobs.backends import BackendStatus
from clusterjobs.lifecycle import move_job
from clusterjobs.models import Job, JobStatus
from clusterjobs.validation import check_request
from portal.accounts.actions import create_token

from .factories import JobFactory, dispatched_job


def history(job: Job) -> list[tuple[str, str, str]]:
    return [(t.from_status, t.to_status, t.reason) for t in job.transitions.order_by("at", "pk")]


@pytest.fixture
def no_broker(monkeypatch):
    """Dispatches that would go to the broker (outside our code), recorded instead."""
    sent = []
    monkeypatch.setattr(
        tasks.dispatch_job, "apply_async", lambda args, kwargs=None, **options: sent.append(args[0])
    )
    return sent


@pytest.mark.django_db
def test_a_job_from_dispatching_to_succeeded(personas, django_capture_on_commit_callbacks, no_broker):
    job = JobFactory(project=personas.project, status=JobStatus.DISPATCHING)
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    finished = datetime(2026, 1, 2, 3, 9, 5, tzinfo=UTC)
    assert sync.apply_status(BackendStatus(job.pk, "pending", reason="pulling image"))
    assert sync.apply_status(BackendStatus(job.pk, "running", started_at=started))
    assert not sync.apply_status(BackendStatus(job.pk, "running", started_at=started))  # again: no move
    with django_capture_on_commit_callbacks(execute=True):
        assert sync.apply_status(
            BackendStatus(job.pk, "succeeded", exit_code=0, started_at=started, finished_at=finished)
        )
    job.refresh_from_db()
    assert (job.status, job.exit_code, job.started_at, job.finished_at) == ("succeeded", 0, started, finished)
    assert job.dispatched_at is not None
    assert history(job) == [
        ("", "dispatching", "made by a test"),
        ("dispatching", "pending", "pulling image"),
        ("pending", "running", "started"),
        ("running", "succeeded", "exited with code 0"),
    ]
    # Ended: nothing moves it again.
    assert not sync.apply_status(BackendStatus(job.pk, "failed", exit_code=1))
    assert not sync.apply_status(BackendStatus(job.pk, "missing"))
    assert Job.objects.get(pk=job.pk).status == "succeeded"


@pytest.mark.django_db
def test_failure_reason_and_exit_code(personas):
    job = JobFactory(project=personas.project, status=JobStatus.RUNNING)
    sync.apply_status(BackendStatus(job.pk, "failed", exit_code=137, reason="OOMKilled: out of memory"))
    job.refresh_from_db()
    assert (job.status, job.exit_code, job.status_reason) == ("failed", 137, "OOMKilled: out of memory")
    other = JobFactory(project=personas.project, status=JobStatus.RUNNING)
    sync.apply_status(BackendStatus(other.pk, "failed", exit_code=2))
    other.refresh_from_db()
    assert other.status_reason == "exited with code 2"


@pytest.mark.django_db
def test_a_job_the_backend_lost_fails_with_a_reason(personas):
    job = JobFactory(project=personas.project, status=JobStatus.RUNNING)
    dispatching = JobFactory(project=personas.project, status=JobStatus.DISPATCHING)
    sync.apply_status(BackendStatus(job.pk, "missing"))
    sync.apply_status(BackendStatus(dispatching.pk, "missing"))  # still being created: left alone
    job.refresh_from_db()
    assert job.status == "failed" and "no longer knows this job" in job.status_reason
    assert Job.objects.get(pk=dispatching.pk).status == "dispatching"


@pytest.mark.django_db
def test_pending_reason_updates_without_a_transition(personas):
    job = JobFactory(project=personas.project, status=JobStatus.PENDING)
    sync.apply_status(BackendStatus(job.pk, "pending", reason="ImagePullBackOff: image not found"))
    job.refresh_from_db()
    assert (job.status, job.status_reason) == ("pending", "ImagePullBackOff: image not found")
    assert job.transitions.count() == 1


@pytest.mark.django_db
def test_lifecycle_refuses_moves_out_of_terminal_states(personas):
    job = JobFactory(project=personas.project, status=JobStatus.CANCELLED)
    for to in (JobStatus.RUNNING, JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.DISPATCHING):
        assert not move_job(job.pk, to, "no")
    queued = JobFactory(project=personas.project)
    assert not move_job(queued.pk, JobStatus.RUNNING, "skipping dispatch is not allowed")
    assert move_job(queued.pk, JobStatus.FAILED, "refused")


@pytest.mark.django_db
def test_job_end_revokes_its_token_keeps_its_log_and_admits_the_next(
    personas, django_capture_on_commit_callbacks, no_broker
):
    quota = personas.project.quota
    quota.max_running_jobs = 1
    quota.save()
    token, _key = create_token(personas.bob, "job", project=personas.project)
    running = JobFactory(project=personas.project, status=JobStatus.RUNNING, mlflow_token=token)
    waiting = JobFactory(project=personas.project, status=JobStatus.QUEUED, status_reason="waiting for quota")
    with django_capture_on_commit_callbacks(execute=True):
        sync.apply_status(BackendStatus(running.pk, "succeeded", exit_code=0))
    token.refresh_from_db()
    assert token.revoked_at is not None
    waiting.refresh_from_db()
    assert waiting.status == "dispatching" and no_broker == [waiting.pk]


@pytest.mark.django_db
def test_image_digest_recorded(personas):
    job = JobFactory(project=personas.project, status=JobStatus.PENDING)
    sync.apply_status(BackendStatus(job.pk, "running", image_digest="sha256:abc"))
    assert Job.objects.get(pk=job.pk).image_digest == "sha256:abc"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("phase", "run_status"), [("succeeded", "FINISHED"), ("failed", "FAILED"), ("cancelled", "KILLED")]
)
def test_the_mlflow_run_follows_the_job(personas, spec, mlflow_uri, phase, run_status):
    job = actions.submit_job(
        personas.bob, personas.project, check_request(personas.bob, personas.project, **spec)
    )
    assert runs.start_run(job, timezone.now(), retried=False)  # as its dispatch does
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, final_log="")
    if phase == "cancelled":
        actions.cancel_job(personas.bob, job)
    else:
        sync.apply_status(
            BackendStatus(
                job.pk, phase, exit_code=0 if phase == "succeeded" else 1, image_digest="sha256:feed"
            )
        )
    run = requests.get(f"{mlflow_uri}/api/2.0/mlflow/runs/get", params={"run_id": job.mlflow_run_id}).json()[
        "run"
    ]
    assert run["info"]["status"] == run_status
    tags = {tag["key"]: tag["value"] for tag in run["data"]["tags"]}
    assert tags["taller.status"] == phase
    if phase != "cancelled":
        assert tags["taller.image_digest"] == "sha256:feed"


@pytest.mark.django_db
def test_mlflow_down_at_the_end_retries_later(
    personas, settings, django_capture_on_commit_callbacks, monkeypatch
):
    from tests.conftest import free_port

    settings.MLFLOW_TRACKING_URI = f"http://127.0.0.1:{free_port()}"
    later = []
    monkeypatch.setattr(
        tasks.sync_job_run,
        "apply_async",
        lambda args, kwargs=None, countdown=None, **options: later.append((args, countdown)),
    )
    job = JobFactory(project=personas.project, status=JobStatus.RUNNING, mlflow_run_id="abc123")
    with django_capture_on_commit_callbacks(execute=True):
        sync.apply_status(BackendStatus(job.pk, "succeeded", exit_code=0))
    assert Job.objects.get(pk=job.pk).status == "succeeded"
    assert later == [((job.pk,), 30)]


@pytest.mark.django_db(transaction=True)
def test_other_apps_hear_each_move_once_it_is_committed_and_a_failing_listener_stops_no_one(personas):
    from clusterjobs.signals import job_moved

    heard = []

    def broken(**kwargs):
        raise RuntimeError("a listener's bug")

    def listener(job_id, from_status, to_status, **kwargs):
        heard.append((job_id, from_status, to_status))

    job_moved.connect(broken, weak=False)
    job_moved.connect(listener, weak=False)
    try:
        job = JobFactory(project=personas.project, status=JobStatus.DISPATCHING)
        assert move_job(job.pk, JobStatus.RUNNING, "started")
        assert not move_job(job.pk, JobStatus.RUNNING, "again: no move, nothing heard")
        with transaction.atomic():
            assert move_job(job.pk, JobStatus.SUCCEEDED, "exited with code 0")
            assert heard == [(job.pk, "dispatching", "running")]  # not before the commit
        assert heard == [(job.pk, "dispatching", "running"), (job.pk, "running", "succeeded")]
        with pytest.raises(RuntimeError), transaction.atomic():
            assert move_job(JobFactory(project=personas.project).pk, JobStatus.FAILED, "rolled back")
            raise RuntimeError
        assert len(heard) == 2  # a move that was rolled back is never announced
    finally:
        job_moved.disconnect(broken)
        job_moved.disconnect(listener)


@pytest.mark.django_db(transaction=True)
def test_whoever_sees_the_job_ended_sees_its_final_log_and_its_token_revoked(personas, local):
    """The final log and the token's revocation are committed with the terminal state: a reader
    (here the job_moved listeners, told right after the commit) never sees one without the other."""
    from clusterjobs.signals import job_moved

    seen = []

    def listener(job_id, to_status, **kwargs):
        if to_status == JobStatus.SUCCEEDED:
            job = Job.objects.select_related("mlflow_token").get(pk=job_id)
            seen.append((job.status, job.final_log, job.mlflow_token.revoked_at is not None))

    job = dispatched_job(personas.project, personas.bob)  # prints "hi"
    assert local.wait(job.pk, 30).phase == "succeeded"
    job_moved.connect(listener, weak=False)
    try:
        assert sync.apply_status(local.status(job.pk, job.project.slug))
    finally:
        job_moved.disconnect(listener)
    assert seen == [(JobStatus.SUCCEEDED, "hi", True)]
