"""dispatch.dispatch_many, the dispatch of a batch of admitted jobs (a drain that admitted many),
on the Kubernetes backend against the test API server: every job created with a token of its own
and moved to pending, the database work done once for the batch, and dispatch's guarantees kept
for each job (one left alone when no longer dispatching or held by another attempt, one failed
when refused, one handed to a task of its own when it may already exist or its submit failed)."""

import base64
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clusterjobs import dispatch, queue, tasks
from clusterjobs.models import Job, JobStatus
from portal.accounts.actions import authenticate_token, create_token
from portal.accounts.models import ApiToken

from .test_kubernetes_dispatch import NS, admitted


@pytest.fixture
def sent(monkeypatch) -> list[tuple[int, float]]:
    """The dispatch_job tasks enqueued (job id, countdown), kept from the broker."""
    enqueued = []

    def apply_async(args, kwargs=None, countdown=0, **options):
        enqueued.append((args[0], countdown))

    monkeypatch.setattr(tasks.dispatch_job, "apply_async", apply_async)
    return enqueued


def statements(captured, verb: str, table: str) -> int:
    return sum(1 for query in captured if f'{verb} "{table}"' in query["sql"])


@pytest.mark.django_db
def test_a_batch_creates_every_job_with_a_token_of_its_own(personas, k8s, sent):
    jobs = [admitted(personas) for _ in range(6)]
    with CaptureQueriesContext(connection) as captured:
        outcomes = tasks.dispatch_jobs.apply(args=([job.pk for job in jobs],)).get()
    assert outcomes == {job.pk: "submitted" for job in jobs} and sent == []
    keys = set()
    for job in jobs:
        job.refresh_from_db()
        assert job.status == JobStatus.PENDING and job.backend == "kubernetes"
        assert job.status_reason == f"created on the backend as taller-{job.pk}"
        assert job.transitions.get(to_status=JobStatus.PENDING).from_status == JobStatus.DISPATCHING
        secret = k8s.api.get("secrets", NS, f"taller-{job.pk}")
        key = base64.b64decode(secret["data"]["MLFLOW_TRACKING_TOKEN"]).decode()
        assert authenticate_token(key) == job.mlflow_token and job.mlflow_token.project == personas.project
        keys.add(key)
    assert len(keys) == 6 and ApiToken.objects.filter(workload=True).count() == 6
    # The batch's database work: one INSERT of the tokens, one UPDATE handing them out, one UPDATE
    # moving the jobs, one INSERT of their transitions; not one of each per job.
    sql = captured.captured_queries
    assert statements(sql, "INSERT INTO", "accounts_apitoken") == 1
    assert statements(sql, "INSERT INTO", "clusterjobs_jobtransition") == 1
    assert statements(sql, "UPDATE", "clusterjobs_job") == 2


@pytest.mark.django_db
def test_a_batch_leaves_alone_what_it_must_not_take(personas, k8s, sent):
    now = timezone.now()
    cancelled = admitted(personas)
    Job.objects.filter(pk=cancelled.pk).update(status=JobStatus.CANCELLED)
    held = admitted(personas, dispatch_claim="another", dispatch_claimed_until=now + timedelta(seconds=60))
    token, _key = create_token(personas.bob, "job", project=personas.project)
    tried = admitted(personas, mlflow_token=token, dispatch_claim="dead", dispatch_claimed_until=now)
    lapsed = admitted(personas, dispatch_claim="dead", dispatch_claimed_until=now - timedelta(seconds=1))
    ids = [cancelled.pk, held.pk, tried.pk, lapsed.pk, 10**9]
    assert dispatch.dispatch_many(ids) == {
        cancelled.pk: "skipped",
        held.pk: "skipped",
        tried.pk: "sent",  # it may be on the cluster already: its own task looks first
        lapsed.pk: "submitted",  # its attempt died before giving it a token: nothing to look for
        10**9: "skipped",
    }
    assert sent == [(tried.pk, 0)]
    assert Job.objects.get(pk=held.pk).dispatch_claim == "another"
    assert {item["metadata"]["name"] for item in k8s.api.items("jobs", NS)} == {f"taller-{lapsed.pk}"}


@pytest.mark.django_db
def test_a_failed_submit_is_handed_to_a_task_of_its_own_and_the_rest_go_on(personas, k8s, sent):
    assert dispatch.dispatch(admitted(personas).pk) == "submitted"  # the project is prepared
    first, second, third = (admitted(personas) for _ in range(3))
    k8s.api.fail_next.append((503, "etcdserver: request timed out"))  # the first job's create
    outcomes = dispatch.dispatch_many([first.pk, second.pk, third.pk], attempt="batch")
    assert outcomes == {first.pk: "sent", second.pk: "submitted", third.pk: "submitted"}
    assert sent == [(first.pk, dispatch.FIRST_RETRY_SECONDS)]
    first.refresh_from_db()
    assert first.status == JobStatus.DISPATCHING and first.dispatch_claim == ""
    assert (
        first.status_reason.startswith("dispatch failed, retrying: ") and "etcdserver" in first.status_reason
    )
    # Its own task takes it (no claim in the way): it looks, finds nothing, creates it afresh.
    assert tasks.dispatch_job.apply(args=(first.pk,)).get() == "submitted"
    assert Job.objects.get(pk=first.pk).status == JobStatus.PENDING


@pytest.mark.django_db
def test_a_job_the_backend_refuses_fails_and_the_rest_go_on(personas, k8s, sent):
    refused, fine = admitted(personas), admitted(personas)
    assert dispatch.dispatch(admitted(personas).pk) == "submitted"  # the project is prepared
    k8s.api.fail_next.append((422, "Job.batch is invalid"))
    assert dispatch.dispatch_many([refused.pk, fine.pk]) == {refused.pk: "failed", fine.pk: "submitted"}
    refused.refresh_from_db()
    assert refused.status == JobStatus.FAILED and "Job.batch is invalid" in refused.status_reason
    assert sent == []


@pytest.mark.django_db
def test_a_batch_retried_after_a_database_error_hands_over_what_it_had_begun(personas, k8s, sent):
    """A transient database error after the tokens were committed retries the task, with the same
    attempt: jobs it moved are left alone, jobs it gave a token go to tasks of their own (which
    look before they create), and its own claim does not keep those tasks out."""
    moved, begun = admitted(personas), admitted(personas)
    assert dispatch.dispatch_many([moved.pk], attempt="batch") == {moved.pk: "submitted"}
    token, _key = create_token(personas.bob, "job", project=personas.project)
    Job.objects.filter(pk=begun.pk).update(
        mlflow_token=token,
        dispatch_claim="batch",
        dispatch_claimed_until=timezone.now() + timedelta(seconds=60),
    )
    assert dispatch.dispatch_many([moved.pk, begun.pk], attempt="batch") == {
        moved.pk: "skipped",
        begun.pk: "sent",
    }
    assert sent == [(begun.pk, 0)] and Job.objects.get(pk=begun.pk).dispatch_claim == ""
    assert tasks.dispatch_job.apply(args=(begun.pk,)).get() == "submitted"


@pytest.mark.django_db
def test_the_drain_sends_admitted_jobs_in_batches(personas, monkeypatch, sent):
    batches = []
    monkeypatch.setattr(
        tasks.dispatch_jobs, "apply_async", lambda args, kwargs=None, **options: batches.append(list(args[0]))
    )
    monkeypatch.setattr(queue, "DISPATCH_BATCH", 3)
    queue.send_dispatches([1, 2, 3, 4, 5, 6, 7], queue.DISPATCH_BATCH)
    assert batches == [[1, 2, 3], [4, 5, 6]] and sent == [(7, 0)]
