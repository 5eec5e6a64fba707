"""How a run moves, step by step, with the real MLflow server and jobs in the database (what a
worker and the watcher do is called here directly): a diamond in order, a failed branch beside an
independent one, retries with backoff, cancel, re-run from the failed steps; upstream run ids in
the environment, parent and child MLflow runs; deciding costs the same queries for 10 or 500 steps."""

from datetime import timedelta

import pytest
import requests
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clusterjobs.lifecycle import move_job
from clusterjobs.models import Job, JobStatus
from pipelines import actions, engine
from pipelines.models import PipelineRun, RunStatus, StepRun, StepStatus
from tests.clusterjobs.factories import dispatched

pytestmark = pytest.mark.django_db


def step(name, *deps, **fields):
    return {"name": name, "command": ["python", "-c", "print(1)"], "depends_on": list(deps), **fields}


def start(personas, *steps, name="p"):
    return actions.start_pipeline(personas.bob, personas.project, {"name": name, "steps": list(steps)})


def statuses(run) -> dict[str, str]:
    return dict(StepRun.objects.filter(run=run).values_list("name", "status"))


def submit_claimed(run) -> list[str]:
    """What the workers do with the steps the engine claimed."""
    claimed = StepRun.objects.filter(run=run, status=StepStatus.STARTING).order_by("position")
    names = []
    for row in claimed:
        engine.submit_step(row.pk)
        names.append(row.name)
    return names


def end(run, name: str, status: str) -> Job:
    """The step's job is dispatched (its run created there, by the real clusterjobs.runs, under the
    pipeline's parent run), ends (as the watcher would move it) and the engine hears of it."""
    job_id = StepRun.objects.get(run=run, name=name).job_id
    if status != JobStatus.FAILED:
        dispatched(job_id)
    move_job(job_id, status)
    engine.job_ended(job_id)
    return Job.objects.get(pk=job_id)


def test_a_diamond_runs_in_order_with_upstream_run_ids(personas, mlflow_uri):
    run = start(
        personas,
        step("prepare"),
        step("left", "prepare"),
        step("right", "prepare"),
        step("join", "left", "right"),
    )
    assert run.mlflow_run_id and run.status == RunStatus.RUNNING
    assert submit_claimed(run) == ["prepare"]
    assert statuses(run)["left"] == StepStatus.WAITING
    prepare = end(run, "prepare", JobStatus.SUCCEEDED)
    assert submit_claimed(run) == ["left", "right"]
    left = Job.objects.get(pk=StepRun.objects.get(run=run, name="left").job_id)
    assert left.env["UPSTREAM_PREPARE_RUN_ID"] == prepare.mlflow_run_id
    end(run, "left", JobStatus.SUCCEEDED)
    assert submit_claimed(run) == []  # join still waits for right
    end(run, "right", JobStatus.SUCCEEDED)
    assert submit_claimed(run) == ["join"]
    join = end(run, "join", JobStatus.SUCCEEDED)
    assert set(k for k in join.env if k.startswith("UPSTREAM_")) == {
        "UPSTREAM_LEFT_RUN_ID",
        "UPSTREAM_RIGHT_RUN_ID",
        "UPSTREAM_RUN_IDS",
    }
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.finished_at
    # Each step's MLflow run is a child of the pipeline's parent run.
    api = f"{mlflow_uri}/api/2.0/mlflow/runs/get"
    tags = requests.get(api, params={"run_id": join.mlflow_run_id}, timeout=10).json()["run"]["data"]["tags"]
    tags = {t["key"]: t["value"] for t in tags}
    assert tags["mlflow.parentRunId"] == run.mlflow_run_id and tags["taller.pipeline_step"] == "join"
    engine.finish_parent_run(run.pk)
    parent = requests.get(api, params={"run_id": run.mlflow_run_id}, timeout=10).json()["run"]
    assert parent["info"]["status"] == "FINISHED"


def test_a_failed_branch_leaves_the_independent_one_running(personas, mlflow_uri):
    run = start(
        personas, step("broken"), step("after-broken", "broken"), step("last", "after-broken"), step("solo")
    )
    assert submit_claimed(run) == ["broken", "solo"]
    end(run, "broken", JobStatus.FAILED)
    assert statuses(run) == {
        "broken": StepStatus.FAILED,
        "after-broken": StepStatus.UPSTREAM_FAILED,
        "last": StepStatus.UPSTREAM_FAILED,
        "solo": StepStatus.SUBMITTED,
    }
    assert StepRun.objects.get(run=run, name="last").reason == "upstream step broken did not succeed"
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    end(run, "solo", JobStatus.SUCCEEDED)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED

    again = actions.rerun(personas.bob, run, from_failed=True)
    assert again.rerun_of_id == run.pk
    kept = StepRun.objects.get(run=again, name="solo")
    assert kept.kept and kept.status == StepStatus.SUCCEEDED
    assert kept.job_id == StepRun.objects.get(run=run, name="solo").job_id
    assert submit_claimed(again) == ["broken"]
    end(again, "broken", JobStatus.SUCCEEDED)
    assert submit_claimed(again) == ["after-broken"]


def test_a_step_retries_with_backoff(personas, mlflow_uri):
    run = start(personas, step("flaky", retries=2, retry_delay_seconds=10))
    submit_claimed(run)
    end(run, "flaky", JobStatus.FAILED)
    flaky = StepRun.objects.get(run=run, name="flaky")
    assert flaky.status == StepStatus.RETRYING and flaky.attempts == 1
    assert flaky.reason.startswith("attempt 1 failed") and flaky.reason.endswith("retrying in 10 s")
    assert engine.submit_step(flaky.pk) is None  # not yet due
    StepRun.objects.filter(pk=flaky.pk).update(not_before=timezone.now() - timedelta(seconds=1))
    assert engine.submit_step(flaky.pk) is not None
    end(run, "flaky", JobStatus.FAILED)
    flaky.refresh_from_db()
    assert flaky.attempts == 2 and engine.backoff(flaky) == 20  # doubled
    StepRun.objects.filter(pk=flaky.pk).update(not_before=None)
    engine.submit_step(flaky.pk)
    end(run, "flaky", JobStatus.SUCCEEDED)
    flaky.refresh_from_db()
    assert flaky.status == StepStatus.SUCCEEDED and len(flaky.job_ids) == 3
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED


def test_cancel_skips_pending_steps_and_cancels_running_ones(personas, mlflow_uri):
    run = start(personas, step("first"), step("second", "first"))
    submit_claimed(run)
    actions.cancel_run(personas.alice, run)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED and run.status_reason == "cancelled by alice"
    first = StepRun.objects.get(run=run, name="first")
    assert first.job.status == JobStatus.CANCELLED  # a queued job is cancelled at once
    assert statuses(run)["second"] == StepStatus.SKIPPED
    engine.job_ended(first.job_id)  # what the job's end sends
    assert statuses(run)["first"] == StepStatus.CANCELLED
    again = actions.rerun(personas.alice, run)
    assert submit_claimed(again) == ["first"]


def test_a_refused_submission_fails_the_step(personas, mlflow_uri):
    run = start(personas, step("a"), step("b", "a"))
    personas.project.status = personas.project.Status.ARCHIVED
    personas.project.save()
    submit_claimed(run)
    assert statuses(run) == {"a": StepStatus.FAILED, "b": StepStatus.UPSTREAM_FAILED}
    assert StepRun.objects.get(run=run, name="a").reason.startswith("refused at submission: project:")
    assert PipelineRun.objects.get(pk=run.pk).status == RunStatus.FAILED


def _queries_to_decide(personas, size: int) -> int:
    """Queries for the end of a step in the middle of a chain of ``size`` steps."""
    steps = [step("s0")] + [step(f"s{i}", f"s{i - 1}") for i in range(1, size)]
    run = start(personas, *steps, name=f"chain-{size}")
    middle = size // 2
    StepRun.objects.filter(run=run, position__lt=middle).update(status=StepStatus.SUCCEEDED)
    StepRun.objects.filter(run=run, position=middle).update(status=StepStatus.STARTING, unmet=0)
    StepRun.objects.filter(run=run, position=middle + 1).update(unmet=1)
    submit_claimed(run)
    job_id = StepRun.objects.get(run=run, position=middle).job_id
    move_job(job_id, JobStatus.DISPATCHING)
    move_job(job_id, JobStatus.SUCCEEDED)
    with CaptureQueriesContext(connection) as queries:
        engine.job_ended(job_id)
    assert statuses(run)[f"s{middle + 1}"] == StepStatus.STARTING
    return len(queries)


def test_deciding_costs_the_same_for_10_and_500_steps(personas, mlflow_uri):
    assert _queries_to_decide(personas, 10) == _queries_to_decide(personas, 500)


def test_repair_resends_what_lost_messages_left(personas, mlflow_uri):
    run = start(personas, step("a"), step("b"))
    assert engine.repair() == 2  # both claimed, their submission never heard of
    submit_claimed(run)
    assert engine.repair() == 0
    job = end(run, "a", JobStatus.SUCCEEDED)
    StepRun.objects.filter(run=run, name="a").update(status=StepStatus.SUBMITTED)  # its end went unheard
    Job.objects.filter(pk=job.pk).update(finished_at=timezone.now() - timedelta(minutes=5))
    assert engine.repair() == 1
    assert engine.job_ended(job.pk) == StepStatus.SUCCEEDED
