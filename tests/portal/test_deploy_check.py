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
        TALLER_PUBLIC_URL="https://taller.example.org",
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


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEBUG", "maybe"),
        ("TALLER_EXECUTOR", "slurm"),
        ("TALLER_JOB_PORTAL_URL", "taller-web:8000"),
        ("TALLER_JOB_PORTAL_URL", "http://taller-web:port"),
        ("TALLER_PUBLIC_URL", "ftp://taller.example.org"),
    ],
)
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


def test_jobs_redirected_to_https_stop_the_start():
    """The production defaults of the landed main: jobs were handed http://127.0.0.1:8000/mlflow, and
    SECURE_SSL_REDIRECT sent their MLflow client to https on a port where nothing speaks TLS."""
    env = production_env(ALLOWED_HOSTS="taller.example.org,127.0.0.1")
    del env["TALLER_PUBLIC_URL"]
    for args in [("check", "--deploy"), ("check",)]:  # `check` runs the same checks as `migrate` does
        result = manage(env, *args)
        assert result.returncode != 0
        output = result.stdout + result.stderr
        assert (
            "(clusterjobs.E001) Jobs would be redirected from http://127.0.0.1:8000/mlflow to https://"
            in output
        )


def test_in_cluster_address_exempt_from_the_redirect():
    """A Service in front of gunicorn over plain http, beside the public https address."""
    env = production_env(
        TALLER_EXECUTOR="kubernetes",
        TALLER_JOB_PORTAL_URL="http://taller-web.taller.svc:8000",
        ALLOWED_HOSTS="taller.example.org,taller-web.taller.svc",
    )
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0 and "clusterjobs.E001" in result.stdout + result.stderr
    env["SECURE_REDIRECT_EXEMPT"] = "^mlflow/"
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr


def test_jobs_host_must_be_allowed():
    env = production_env(TALLER_JOB_PORTAL_URL="https://taller-web.taller.svc")
    result = manage(env, "check", "--deploy")
    assert result.returncode != 0
    assert "(clusterjobs.E002) Jobs would be refused (400)" in result.stdout + result.stderr
    assert "taller-web.taller.svc is not in ALLOWED_HOSTS" in result.stdout + result.stderr


def test_pods_cannot_reach_a_loopback_address():
    env = production_env(
        TALLER_EXECUTOR="kubernetes",
        TALLER_JOB_PORTAL_URL="https://localhost",
        ALLOWED_HOSTS="taller.example.org,localhost",
    )
    result = manage(env, "check", "--deploy")
    assert result.returncode != 0 and "clusterjobs.E003" in result.stdout + result.stderr
    env["TALLER_EXECUTOR"] = "local"  # a local job runs beside the portal: loopback is right
    assert manage(env, "check", "--deploy", "--fail-level", "WARNING").returncode == 0


def test_a_bad_redirect_exemption_fails_with_one_clear_line():
    result = manage(production_env(SECURE_REDIRECT_EXEMPT="^mlflow/(["), "check")
    assert result.returncode != 0
    assert (
        "ImproperlyConfigured: SECURE_REDIRECT_EXEMPT: '^mlflow/([' is not a regular expression"
        in result.stderr
    )
