import pytest

from tests.conftest import Personas

from .factories import JobFactory


@pytest.fixture
def spec() -> dict:
    """A valid job spec, as the actions take it."""
    return {
        "name": "train digits",
        "image": "python:3.11-slim",
        "command": ["python", "-m", "examples.train", "--epochs", "3"],
        "env": {"SEED": "7", "API_KEY": "s3cr3t"},
        "secret_env": ["API_KEY"],
        "cpu": "1",
        "memory_mib": 1024,
        "gpus": 0,
        "gpu_type": "",
        "time_limit_minutes": 10,
        "experiment": "default",
    }


@pytest.fixture
def body() -> dict:
    """A valid POST /api/v1/jobs/ body for the personas' project."""
    return {
        "project": "genomics",
        "name": "train digits",
        "image": "python:3.11-slim",
        "command": ["python", "-m", "examples.train", "--epochs", "3"],
        "env": {"SEED": "7", "API_KEY": "s3cr3t"},
        "secret_env": ["API_KEY"],
        "resources": {"cpu": "1", "memory_mib": 1024, "gpus": 0},
        "time_limit_minutes": 10,
    }


@pytest.fixture
def genomics_job(personas: Personas):
    return JobFactory(project=personas.project, submitter=personas.bob)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """The personas' passwords need no strong hashing in these tests."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
