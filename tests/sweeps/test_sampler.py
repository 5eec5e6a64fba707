"""The sampler, asked as the runner asks it: a study rebuilt from the trials' rows for every
trial. Random and TPE find the bowl's good region; grid never repeats a point, running trials
included; the same history gives the same next trial (a restart asks as if it never stopped)."""

from sweeps import sampler
from sweeps.space import parse_space
from tests.sweeps.synthetic_train import loss

BOWL, _problems = parse_space(
    {"x": {"type": "float", "low": 0, "high": 1}, "y": {"type": "log_uniform", "low": 0.01, "high": 1}}
)


def run(algorithm: str, trials: int, parameters=BOWL, parallel: int = 1) -> list:
    """Ask, ``parallel`` trials at a time, each told its loss once its batch ends."""
    history: list = []
    while len(history) < trials:
        batch = []
        for _ in range(min(parallel, trials - len(history))):
            params = sampler.next_params(
                algorithm=algorithm,
                parameters=parameters,
                direction="minimize",
                seed=7,
                max_trials=trials,
                trials=history + [(p, "active", None) for p in batch],
            )
            batch.append(params)
        history += [(p, "complete", loss(p["x"], p["y"])) for p in batch]
    return history


def best(history) -> float:
    return min(value for _p, _s, value in history)


def test_random_and_tpe_reach_the_good_region():
    random = run("random", 40, parallel=2)
    tpe = run("tpe", 40, parallel=2)
    assert best(random) < 0.02
    assert best(tpe) < 0.01
    # TPE spends its later trials near the minimum: their median beats random's.
    later = sorted(value for _p, _s, value in tpe[20:])
    assert later[len(later) // 2] < sorted(v for _p, _s, v in random[20:])[10]


def test_grid_covers_every_point_once_with_trials_running():
    grid, _problems = parse_space(
        {"a": {"type": "categorical", "choices": ["sgd", "adam"]}, "b": {"type": "int", "low": 1, "high": 3}}
    )
    asked = []
    for _ in range(6):
        asked.append(
            sampler.next_params(
                algorithm="grid",
                parameters=grid,
                direction="maximize",
                seed=1,
                max_trials=6,
                trials=[(p, "active", None) for p in asked],  # none has ended yet
            )
        )
    assert sorted((p["a"], p["b"]) for p in asked) == sorted(
        (a, b) for a in ("sgd", "adam") for b in (1, 2, 3)
    )


def test_the_same_history_asks_the_same_next_trial():
    history = run("tpe", 12)
    again = [
        sampler.next_params(
            algorithm="tpe", parameters=BOWL, direction="minimize", seed=7, max_trials=20, trials=history
        )
        for _ in range(2)
    ]
    assert again[0] == again[1]
    assert again[0] not in [p for p, _s, _v in history]
