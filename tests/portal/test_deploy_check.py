"""With production settings, Django's deployment checklist finds nothing to warn about."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def production_env(**changes: str) -> dict:
    # Only what a production host sets: nothing of the test run (its database, async-unsafe flag...).
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    env.update(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="taller.example.org",
        DATABASE_URL="postgres://taller@db.example.org:5432/taller",
        CELERY_BROKER_URL="redis://redis.example.org:6379/0",
        MLFLOW_TRACKING_URI="http://mlflow.example.org:5000",
    )
    env.update(changes)
    return env


def manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean():
    result = manage(production_env(), "check", "--deploy", "--fail-level", "WARNING")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNINGS" not in output and "ERRORS" not in output
    assert "no issues" in output


def test_check_deploy_notices_a_weak_secret():
    """The test above could pass by not checking at all: a weak key must be caught."""
    result = manage(production_env(SECRET_KEY="short"), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr


@pytest.mark.parametrize(("name", "value"), [("DEBUG", "maybe"), ("TALLER_EXECUTOR", "slurm")])
def test_bad_configuration_fails_with_one_clear_line(name, value):
    result = manage(production_env(**{name: value}), "check")
    assert result.returncode != 0
    assert f"ImproperlyConfigured: {name} must be" in result.stderr


def test_production_refuses_to_start_without_a_secret():
    env = production_env()
    del env["SECRET_KEY"]
    result = manage(env, "check")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr
