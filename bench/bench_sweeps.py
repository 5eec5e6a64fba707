"""Asking a sweep's sampler for the next trial with 10 and with 1,000 finished trials (the sampler
is rebuilt from the trial rows for every ask: sweeps/sampler.py).

- random: flat (target: ratio 1,000 / 10 at most 1.5): the random sampler reads no history, so
  none is rebuilt.
- TPE: grows with the history, and must: the sampler fits its two densities on every finished
  trial (Optuna's own cost, about half of the time at 1,000), and the study is rebuilt from the
  rows (the other half). At 1,000 trials an ask stays around a tenth of a second, small beside a
  trial's job; the target (at most 100) only catches a growth worse than linear.

And starting the trials of a 1,000-trial random sweep, per trial (target: at most 1.2 times a
job's cost): the baseline submits 1,000 ordinary jobs through ``clusterjobs.actions.submit_job``
(its request checked, as the API does) and admits each (what its commit runs); ours has the sweep runner start 1,000 trials, one
``runner.advance`` each (a trial queued holds the next one back, so each advance starts one), its
admission included. Both against a real MLflow server (every submission checks its experiment);
blocks of each alternate in one database, so neither gains from a smaller table. A trial costs
a job's submission plus the advance's own bookkeeping: the sweep's row lock, the query for ended
trials, one counting query (slots, completion), the trial's row and the advance message its
admission sends.
"""

import random
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from sweeps import sampler
from sweeps.space import parse_space

REPEATS = 15
SPACE = {
    "lr": {"type": "log_uniform", "low": 0.0001, "high": 0.1},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5},
    "depth": {"type": "int", "low": 2, "high": 12},
    "optimizer": {"type": "categorical", "choices": ["sgd", "adam", "rmsprop"]},
}
TARGETS = {"random": 1.5, "tpe": 100.0}


def history(count: int, rng: random.Random) -> list:
    return [
        (
            {
                "lr": 10 ** rng.uniform(-4, -1),
                "dropout": rng.uniform(0, 0.5),
                "depth": rng.randint(2, 12),
                "optimizer": rng.choice(["sgd", "adam", "rmsprop"]),
            },
            "complete",
            rng.random(),
        )
        for _ in range(count)
    ]


def ask_seconds(algorithm: str, trials: list) -> float:
    parameters, _problems = parse_space(SPACE)
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        sampler.next_params(
            algorithm=algorithm,
            parameters=parameters,
            direction="minimize",
            seed=1,
            max_trials=5000,
            trials=trials,
        )
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run() -> list[dict]:
    return ask_rows() + start_rows()


def ask_rows() -> list[dict]:
    rng = random.Random(3)
    small, large = history(10, rng), history(1000, rng)
    rows = []
    for algorithm, target in TARGETS.items():
        ask_seconds(algorithm, small)  # warm up (imports, first study)
        baseline, ours = ask_seconds(algorithm, small), ask_seconds(algorithm, large)
        ratio = ours / baseline
        rows.append(
            {
                "name": f"sweep: next {algorithm} trial, 1,000 / 10 finished",
                "baseline": baseline * 1000,
                "ours": ours * 1000,
                "unit": "ms",
                "ratio": ratio,
                "target": f"<= {target}",
                "ok": ratio <= target,
            }
        )
    return rows


TRIALS = 1000
BLOCK = 100
START_TARGET = 1.2
JOB = {
    "image": "python:3.11-slim",
    "command": ["python", "train.py", "--x", "{x}"],
    "cpu": "0.5",
    "memory_mib": 256,
    "time_limit_minutes": 5,
}


def _projects():
    """Two projects of one owner, quotas wide enough for everything the bench starts."""
    from portal.projects.models import Project
    from portal.quotas.actions import ensure_quota
    from portal.quotas.models import Quota
    from tests.factories import MembershipFactory, ProjectFactory, UserFactory

    user = UserFactory(username="bench-sweeper")
    projects = [ProjectFactory(slug=slug) for slug in ("bench-jobs", "bench-sweep")]
    for project in projects:
        MembershipFactory(project=project, user=user, role="owner")
        ensure_quota(project)
    Quota.objects.filter(project__in=projects).update(
        max_gpus=0,
        max_cpu=Decimal(10**4),
        max_memory_mib=10**9,
        max_running_jobs=10**6,
        max_time_limit_minutes=10**4,
        cpu_hours_per_period=Decimal(10**8),
        gpu_hours_per_period=Decimal(0),
    )
    return user, [Project.objects.get(pk=p.pk) for p in projects]  # with the quotas as updated


def start_rows() -> list[dict]:
    from django.conf import settings

    from clusterjobs import actions as job_actions
    from clusterjobs.models import Job, JobStatus
    from clusterjobs.validation import check_request
    from portal.celery import app
    from sweeps import actions, runner
    from sweeps.definition import check_sweep
    from tests.conftest import start_mlflow_server

    saved = settings.MLFLOW_TRACKING_URI
    url, process = start_mlflow_server(Path(tempfile.mkdtemp(prefix="taller-bench-mlflow-")))
    settings.MLFLOW_TRACKING_URI = url
    try:
        user, (jobs_project, sweep_project) = _projects()
        job = {**JOB, "name": "train", "command": ["python", "train.py"]}
        sweep = actions.create_sweep(
            user,
            sweep_project,
            check_sweep(
                user,
                sweep_project,
                name="bench",
                space={"x": {"type": "float", "low": 0, "high": 1}},
                algorithm="random",
                objective="loss",
                direction="minimize",
                max_trials=TRIALS,
                max_parallel=TRIALS,
                **JOB,
            ),
        )

        def submit():  # as the API does: the request checked, submitted; its commit admits it
            job_actions.submit_job(user, jobs_project, check_request(user, jobs_project, **job))

        submit()  # warm up (the experiment, connections)
        baseline = ours = 0.0
        for _block in range(TRIALS // BLOCK):
            started = time.perf_counter()
            for _ in range(BLOCK):
                submit()
            baseline += time.perf_counter() - started
            started = time.perf_counter()
            for _ in range(BLOCK):
                runner.advance(sweep.pk)
            ours += time.perf_counter() - started
        trials = sweep.trials.filter(job__status=JobStatus.DISPATCHING).count()
        jobs = Job.objects.filter(project=jobs_project, status=JobStatus.DISPATCHING).count()
        if (trials, jobs) != (TRIALS, TRIALS + 1):
            raise RuntimeError(f"expected every trial and job admitted, got {trials} trials, {jobs} jobs")
    finally:
        settings.MLFLOW_TRACKING_URI = saved
        process.terminate()
        process.wait(timeout=30)
        app.control.purge()  # the dispatches and advances the bench enqueued, for no worker
    baseline, ours = baseline / TRIALS, ours / TRIALS
    ratio = ours / baseline
    return [
        {
            "name": "sweep: start a trial (random sampler) vs submit a job, 1,000 each, admitted",
            "baseline": baseline * 1000,
            "ours": ours * 1000,
            "unit": "ms",
            "ratio": ratio,
            "target": f"<= {START_TARGET}",
            "ok": ratio <= START_TARGET,
        }
    ]
