"""The runner against a real MLflow server, its trials' jobs moved through the real lifecycle by
the test (the end-to-end test runs them for real): a slot frees when a trial's job leaves the queue
or ends, never more than max_parallel at once; objectives read from the trials' runs and the best
written on the parent run; a sweep whose trials log no objective pauses and says so; a trial
interrupted before its commit is asked again, once, with the same parameters."""

import pytest
import requests

from clusterjobs.lifecycle import move_job
from clusterjobs.models import Job, JobStatus
from sweeps import actions, runner, sampler
from sweeps.definition import check_sweep
from sweeps.models import Sweep, SweepStatus, TrialState
from sweeps.space import parse_space
from tests.clusterjobs.factories import dispatched

from .conftest import body


def start(personas, **changes) -> Sweep:
    raw = body(**changes)
    raw.pop("project")
    raw |= raw.pop("resources")
    return actions.create_sweep(
        personas.bob, personas.project, check_sweep(personas.bob, personas.project, **raw)
    )


def end(job: Job, mlflow: str, value: float | None, status=JobStatus.SUCCEEDED) -> None:
    """The job is dispatched, runs, logs ``value`` (unless None) into its run, and ends."""
    job = dispatched(job.pk)
    if value is not None:
        requests.post(
            f"{mlflow}/api/2.0/mlflow/runs/log-metric",
            json={"run_id": job.mlflow_run_id, "key": "loss", "value": value, "timestamp": 0, "step": 1},
            timeout=10,
        ).raise_for_status()
    for to in (JobStatus.RUNNING, status):
        move_job(job.pk, to, "test")


def run_of(mlflow: str, run_id: str) -> dict:
    return requests.get(f"{mlflow}/api/2.0/mlflow/runs/get", params={"run_id": run_id}, timeout=10).json()[
        "run"
    ]


def active(sweep: Sweep) -> int:
    return sweep.trials.filter(state=TrialState.ACTIVE).count()


@pytest.mark.django_db
def test_trials_fill_the_slots_and_their_objectives_are_told(personas, mlflow_uri):
    sweep = start(personas, max_trials=3, max_parallel=2)
    runner.advance(sweep.pk)
    assert sweep.trials.count() == 1  # it waits in the queue: no second trial yet
    runner.advance(sweep.pk)
    assert sweep.trials.count() == 1
    first = sweep.trials.get()
    dispatched(first.job_id)
    runner.advance(sweep.pk)
    second = sweep.trials.get(number=2)
    dispatched(second.job_id)
    runner.advance(sweep.pk)
    assert sweep.trials.count() == 2 and active(sweep) == 2  # max_parallel

    # The first trial's job is a child run of the sweep's, with its parameters.
    child = run_of(mlflow_uri, first.job.mlflow_run_id)
    tags = {t["key"]: t["value"] for t in child["data"]["tags"]}
    assert tags["mlflow.parentRunId"] == sweep.mlflow_run_id and tags["taller.trial"] == "1"
    params = {p["key"]: p["value"] for p in child["data"]["params"]}
    assert params == {"x": repr(first.params["x"]), "y": repr(first.params["y"])}
    assert first.job.command[4] == repr(first.params["x"])

    end(Job.objects.get(pk=first.job_id), mlflow_uri, 0.25)
    runner.advance(sweep.pk)
    first.refresh_from_db()
    assert first.state == TrialState.COMPLETE and first.objective == 0.25
    assert sweep.trials.count() == 3 and active(sweep) == 2
    parent = run_of(mlflow_uri, sweep.mlflow_run_id)
    assert {m["key"]: m["value"] for m in parent["data"]["metrics"]} == {"best_loss": 0.25}
    assert {p["key"] for p in parent["data"]["params"]} >= {"space.x", "space.y", "algorithm", "objective"}

    end(Job.objects.get(pk=second.job_id), mlflow_uri, 0.1)
    end(sweep.trials.get(number=3).job, mlflow_uri, None, JobStatus.FAILED)
    runner.advance(sweep.pk)
    sweep.refresh_from_db()
    assert sweep.status == SweepStatus.COMPLETED and runner.best_trial(sweep).number == 2
    assert sweep.trials.get(number=3).state == TrialState.FAILED
    parent = run_of(mlflow_uri, sweep.mlflow_run_id)
    assert parent["info"]["status"] == "FINISHED"
    assert {t["key"]: t["value"] for t in parent["data"]["tags"]}["taller.best_trial"] == "2"


@pytest.mark.django_db
def test_a_sweep_whose_trials_log_no_objective_pauses_and_says_so(personas, mlflow_uri):
    sweep = start(personas, max_trials=5, max_parallel=1)
    runner.advance(sweep.pk)
    end(sweep.trials.get().job, mlflow_uri, None)
    runner.advance(sweep.pk)
    sweep.refresh_from_db()
    assert sweep.status == SweepStatus.PAUSED and sweep.trials.count() == 1
    assert "no trial logged the metric “loss”" in sweep.status_reason
    assert sweep.trials.get().note == "no objective logged"


@pytest.mark.django_db
def test_an_interrupted_trial_is_asked_again_once_with_the_same_parameters(personas, mlflow_uri, settings):
    sweep = start(personas, max_trials=3, max_parallel=1)
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"  # MLflow gone while the trial is submitted
    runner.advance(sweep.pk)
    assert not sweep.trials.exists() and not Job.objects.exists()  # nothing half-created
    settings.MLFLOW_TRACKING_URI = mlflow_uri  # "restarted"
    runner.advance(sweep.pk)
    runner.advance(sweep.pk)
    trial = sweep.trials.get()
    parameters, _problems = parse_space(sweep.space)
    expected = sampler.next_params(
        algorithm="random", parameters=parameters, direction="minimize", seed=0, max_trials=3, trials=[]
    )
    assert trial.number == 1 and trial.params == expected and Job.objects.count() == 1


@pytest.mark.django_db
def test_pause_resume_extend_and_stop(personas, mlflow_uri):
    sweep = start(personas, max_trials=1, max_parallel=1)
    actions.pause_sweep(personas.bob, sweep)
    runner.advance(sweep.pk)
    assert not sweep.trials.exists()  # paused: nothing starts
    actions.resume_sweep(personas.bob, sweep)
    runner.advance(sweep.pk)
    end(sweep.trials.get().job, mlflow_uri, 0.5)
    runner.advance(sweep.pk)
    sweep.refresh_from_db()
    assert sweep.status == SweepStatus.COMPLETED
    actions.extend_sweep(personas.bob, sweep, 2)
    runner.advance(sweep.pk)
    sweep.refresh_from_db()
    assert sweep.status == SweepStatus.RUNNING and sweep.max_trials == 3 and sweep.trials.count() == 2
    queued = sweep.trials.get(number=2).job
    actions.stop_sweep(personas.bob, sweep)
    queued.refresh_from_db()
    assert queued.status == JobStatus.CANCELLED
    runner.advance(sweep.pk)
    sweep.refresh_from_db()
    assert sweep.status == SweepStatus.STOPPED and sweep.trials.get(number=2).state == TrialState.CANCELLED
    assert run_of(mlflow_uri, sweep.mlflow_run_id)["info"]["status"] == "KILLED"


def log_curve(job: Job, mlflow: str, values: list[float]) -> None:
    metrics = [{"key": "loss", "value": v, "timestamp": 0, "step": step} for step, v in enumerate(values, 1)]
    requests.post(
        f"{mlflow}/api/2.0/mlflow/runs/log-batch",
        json={"run_id": job.mlflow_run_id, "metrics": metrics},
        timeout=10,
    ).raise_for_status()


@pytest.mark.django_db
def test_a_trial_worse_than_the_median_is_pruned_and_its_job_cancelled(personas, mlflow_uri, settings):
    settings.TALLER_EXECUTOR = "local"
    sweep = start(personas, max_trials=5, max_parallel=1, prune=True)
    for number in (1, 2, 3):
        runner.advance(sweep.pk)
        job = dispatched(sweep.trials.get(number=number).job_id)
        log_curve(job, mlflow_uri, [0.9, 0.5, 0.2 + number / 100])
        for to in (JobStatus.RUNNING, JobStatus.SUCCEEDED):
            move_job(job.pk, to, "test")
    runner.advance(sweep.pk)
    assert sweep.trials.get(number=3).curve == {"1": 0.9, "2": 0.5, "3": 0.23}
    fourth = sweep.trials.get(number=4)
    fourth_job = dispatched(fourth.job_id)
    move_job(fourth.job_id, JobStatus.RUNNING, "started")
    log_curve(fourth_job, mlflow_uri, [0.8])  # better than the median at step 1: goes on
    runner.advance(sweep.pk)
    assert Job.objects.get(pk=fourth.job_id).status == JobStatus.RUNNING
    log_curve(fourth_job, mlflow_uri, [0.8, 3.0])  # far worse at step 2: stopped
    runner.advance(sweep.pk)
    assert Job.objects.get(pk=fourth.job_id).status == JobStatus.CANCELLED  # its quota freed
    runner.advance(sweep.pk)
    fourth.refresh_from_db()
    assert fourth.state == TrialState.PRUNED and fourth.objective is None
    assert sweep.trials.count() == 5  # the slot went to the next trial
