"""A sweep end to end on the local backend: a real Celery worker on the real broker, the watcher,
a real mlflow server, the synthetic training script as every trial's job. The sweep is started
through the API and moves on by itself (job_moved -> advance_sweep); the parallel limit is
checked over the trials' recorded transitions, not by timing; so is pruning (a trial worse than the
median cancelled, the next in its slot)."""

import pytest
import requests
from rest_framework.test import APIClient

from clusterjobs.backends import get_backend
from clusterjobs.models import TERMINAL, Job, JobStatus, JobTransition
from portal.quotas.models import Quota
from sweeps import sampler
from sweeps.models import Sweep, SweepStatus, TrialState
from sweeps.space import parse_space
from sweeps.tasks import advance_sweeps
from tests.clusterjobs.watching import Watcher, wait_for
from tests.sweeps.synthetic_train import loss

from .conftest import body


def most_at_once(job_ids: list[int]) -> int:
    """The most of these jobs that held resources at the same time, from their transitions."""
    events = []
    for t in JobTransition.objects.filter(job_id__in=job_ids).order_by("at", "pk"):
        if t.from_status == JobStatus.QUEUED and t.to_status != JobStatus.CANCELLED:
            events.append((t.at, 1, t.pk))
        elif t.to_status in TERMINAL and t.from_status != JobStatus.QUEUED:
            events.append((t.at, -1, t.pk))
    held = most = 0
    for _at, change, _pk in sorted(events, key=lambda e: (e[0], e[1])):
        held += change
        most = max(most, held)
    return most


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_sweep_runs_its_trials_as_jobs_and_finds_the_best(personas, settings, mlflow_uri, celery_worker):
    settings.TALLER_EXECUTOR = "local"
    settings.TALLER_JOB_TRACKING_URI = mlflow_uri
    settings.TALLER_LOCAL_POLL_SECONDS = 0.2
    # The project's quota holds 2 jobs at once, as many as the sweep's parallel limit.
    Quota.objects.filter(project=personas.project).update(max_running_jobs=2)
    watcher = Watcher(get_backend("local"))
    try:
        client = APIClient()
        client.force_authenticate(personas.bob)
        response = client.post("/api/v1/sweeps/", body(max_trials=4, max_parallel=2), format="json")
        assert response.status_code == 201, response.json()
        sweep_id = response.json()["id"]
        done = wait_for(
            lambda: Sweep.objects.filter(pk=sweep_id, status=SweepStatus.COMPLETED).first(), 240, "the sweep"
        )
    finally:
        watcher.close()

    trials = list(done.trials.select_related("job"))
    assert [t.number for t in trials] == [1, 2, 3, 4]
    assert all(t.state == TrialState.COMPLETE and t.job.status == JobStatus.SUCCEEDED for t in trials), [
        (t.state, t.job.status_reason, t.job.final_log) for t in trials
    ]
    for trial in trials:
        assert trial.objective == pytest.approx(loss(trial.params["x"], trial.params["y"]))
    assert len({(t.params["x"], t.params["y"]) for t in trials}) == 4
    assert most_at_once([t.job_id for t in trials]) == 2

    data = client.get(f"/api/v1/sweeps/{sweep_id}/").json()
    best = min(trials, key=lambda t: t.objective)
    assert data["best"]["number"] == best.number and data["counts"]["complete"] == 4
    api = f"{mlflow_uri}/api/2.0/mlflow"
    parent = requests.get(f"{api}/runs/get", params={"run_id": done.mlflow_run_id}, timeout=10).json()["run"]
    assert parent["info"]["status"] == "FINISHED"
    metrics = {m["key"]: m["value"] for m in parent["data"]["metrics"]}
    assert metrics["best_loss"] == pytest.approx(best.objective)
    children = requests.post(
        f"{api}/runs/search",
        json={
            "experiment_ids": [done.mlflow_experiment_id],
            "filter": f"tags.mlflow.parentRunId = '{done.mlflow_run_id}'",
        },
        timeout=10,
    ).json()["runs"]
    assert sorted(r["info"]["run_id"] for r in children) == sorted(t.job.mlflow_run_id for t in trials)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_restart_in_the_middle_neither_repeats_nor_loses_a_trial(personas, settings, mlflow_uri):
    """The worker stops after the first trial is submitted and its queued messages are lost (a
    restarted portal with an emptied broker); the trial's job ends meanwhile. A new worker and
    beat's periodic advance carry the sweep on from the database alone."""
    from celery.contrib.testing.worker import start_worker

    from portal.celery import app

    settings.TALLER_EXECUTOR = "local"
    settings.TALLER_JOB_TRACKING_URI = mlflow_uri
    settings.TALLER_LOCAL_POLL_SECONDS = 0.2
    app.control.purge()
    watcher = Watcher(get_backend("local"))
    try:
        client = APIClient()
        client.force_authenticate(personas.bob)
        with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=30):
            response = client.post("/api/v1/sweeps/", body(max_trials=2, max_parallel=1), format="json")
            sweep = Sweep.objects.get(pk=response.json()["id"])
            # Submitted: its job reached the backend (a dispatch still queued would be purged
            # below and wait for the drain's repair, which this test is not about).
            first = wait_for(
                lambda: (
                    sweep.trials.filter(number=1)
                    .exclude(job__status__in=[JobStatus.QUEUED, JobStatus.DISPATCHING])
                    .first()
                ),
                60,
                "the first trial's job to reach the backend",
            )
        app.control.purge()  # what the stopped portal had queued is gone
        wait_for(lambda: Job.objects.get(pk=first.job_id).is_terminal(), 120, "its job to end")
        assert sweep.trials.count() == 1
        with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=30):
            advance_sweeps.delay()  # beat's periodic message
            done = wait_for(
                lambda: Sweep.objects.filter(pk=sweep.pk, status=SweepStatus.COMPLETED).first(),
                180,
                "the sweep",
            )
    finally:
        watcher.close()
    trials = list(done.trials.all())
    assert [t.number for t in trials] == [1, 2] and all(t.state == TrialState.COMPLETE for t in trials)
    assert trials[0].params != trials[1].params
    assert Job.objects.count() == 2 and done.trials.filter(job__status=JobStatus.SUCCEEDED).count() == 2


GOOD, BAD = 0.7, 0.0  # x of the bowl's lowest point (loss 0), and of a loss of 0.49


def seed_putting_the_bad_trial_fourth(parameters) -> int:
    """A seed whose random draws are good, good, good, bad, good: the real sampler, asked as the
    runner asks it (its seed with the number of earlier trials), so the test knows the order."""
    for seed in range(2000):
        xs = [
            sampler.next_params(
                algorithm="random",
                parameters=parameters,
                direction="minimize",
                seed=seed,
                max_trials=5,
                trials=[({}, "complete", 0.0)] * n,
            )["x"]
            for n in range(5)
        ]
        if xs == [GOOD, GOOD, GOOD, BAD, GOOD]:
            return seed
    raise AssertionError("no seed gives the order")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_trial_worse_than_the_median_is_pruned_and_the_next_takes_its_slot(
    personas, settings, mlflow_uri, celery_worker
):
    """Three good trials end; the fourth logs a worse curve and goes on (it lingers); beat's
    periodic advance finds it worse than the median at its step, cancels its job, and the fifth
    trial runs in its slot."""
    settings.TALLER_EXECUTOR = "local"
    settings.TALLER_JOB_TRACKING_URI = mlflow_uri
    settings.TALLER_LOCAL_POLL_SECONDS = 0.2
    space = {"x": {"type": "categorical", "choices": [GOOD, BAD]}}
    seed = seed_putting_the_bad_trial_fourth(parse_space(space)[0])
    command = [
        "python",
        "-m",
        "tests.sweeps.synthetic_train",
        "--x",
        "{x}",
        "--y",
        "0.2",
        "--linger-above",
        "0.1",
    ]
    watcher = Watcher(get_backend("local"))
    try:
        client = APIClient()
        client.force_authenticate(personas.bob)
        response = client.post(
            "/api/v1/sweeps/",
            body(space=space, command=command, seed=seed, prune=True, max_trials=5, max_parallel=1),
            format="json",
        )
        assert response.status_code == 201, response.json()
        sweep = Sweep.objects.get(pk=response.json()["id"])
        bad = wait_for(
            lambda: (
                sweep.trials.filter(number=4, job__status=JobStatus.RUNNING).select_related("job").first()
            ),
            180,
            "the fourth trial running",
        )
        history = f"{mlflow_uri}/api/2.0/mlflow/metrics/get-history"
        wait_for(
            lambda: (
                len(
                    requests.get(
                        history, params={"run_id": bad.job.mlflow_run_id, "metric_key": "loss"}, timeout=10
                    )
                    .json()
                    .get("metrics", [])
                )
                == 3
            ),
            60,
            "its curve",
        )
        assert sweep.trials.count() == 4  # its slot is taken: the fifth waits
        advance_sweeps.delay()  # beat's periodic message
        done = wait_for(
            lambda: Sweep.objects.filter(pk=sweep.pk, status=SweepStatus.COMPLETED).first(), 120, "the sweep"
        )
    finally:
        watcher.close()
    trials = list(done.trials.select_related("job"))
    assert [(t.number, t.params["x"]) for t in trials] == [
        (n, x) for n, x in enumerate([GOOD] * 3 + [BAD, GOOD], 1)
    ]
    pruned = trials[3]
    assert (pruned.state, pruned.job.status) == (TrialState.PRUNED, JobStatus.CANCELLED)
    assert pruned.curve == {
        "1": pytest.approx(0.49 * 5 / 3),
        "2": pytest.approx(0.49 * 4 / 3),
        "3": pytest.approx(0.49),
    }
    assert [t.state for t in trials[:3] + trials[4:]] == [TrialState.COMPLETE] * 4
    # The fifth trial left the queue only after the pruned one had ended: one slot, never two.
    assert most_at_once([t.job_id for t in trials]) == 1
    ended = JobTransition.objects.get(job_id=pruned.job_id, to_status=JobStatus.CANCELLED)
    admitted = JobTransition.objects.get(job_id=trials[4].job_id, from_status=JobStatus.QUEUED)
    assert admitted.pk > ended.pk
