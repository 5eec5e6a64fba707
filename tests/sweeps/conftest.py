"""A sweep definition most tests start from, changed field by field."""

import pytest

from tests.factories import UserFactory  # noqa: F401 - personas come from tests/conftest.py


def body(**changes) -> dict:
    """A valid sweep body for the API (the project genomics of the personas)."""
    values = {
        "project": "genomics",
        "name": "bowl",
        "image": "python:3.11-slim",
        "command": ["python", "-m", "tests.sweeps.synthetic_train", "--x", "{x}", "--y", "{y}"],
        "resources": {"cpu": "0.5", "memory_mib": 256},
        "time_limit_minutes": 5,
        "space": {"x": {"type": "float", "low": 0, "high": 1}, "y": {"type": "float", "low": 0, "high": 1}},
        "algorithm": "random",
        "objective": "loss",
        "direction": "minimize",
        "max_trials": 4,
        "max_parallel": 2,
    }
    values.update(changes)
    return values


@pytest.fixture
def sweep_body():
    return body
