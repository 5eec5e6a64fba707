"""Asking a sweep's sampler for the next trial with 10 and with 1,000 finished trials (the sampler
is rebuilt from the trial rows for every ask: sweeps/sampler.py).

- random: flat (target: ratio 1,000 / 10 at most 1.5): the random sampler reads no history, so
  none is rebuilt.
- TPE: grows with the history, and must: the sampler fits its two densities on every finished
  trial (Optuna's own cost, about half of the time at 1,000), and the study is rebuilt from the
  rows (the other half). At 1,000 trials an ask stays around a tenth of a second, small beside a
  trial's job; the target (at most 100) only catches a growth worse than linear.
"""

import random
import statistics
import time

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
