"""docker-compose.yml and the Dockerfile: valid against the Compose Specification, complete, and every
command names something that exists in this repository."""

import importlib
import json
import os
import re
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest
import yaml
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[2]
PORTAL_SERVICES = ["migrate", "web", "worker", "periodic", "beat", "watcher"]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def compose_schema() -> dict:
    # The Compose Specification's schema, as vendored (with its license) by the check-jsonschema package.
    return json.loads((files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json").read_text())


def test_valid_against_the_compose_specification(compose, compose_schema):
    jsonschema.validate(compose, compose_schema)


def test_the_schema_check_can_fail(compose, compose_schema):
    broken = {
        **compose,
        "services": {**compose["services"], "web": {**compose["services"]["web"], "helth": 1}},
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, compose_schema)


def test_the_stack_has_every_process(compose):
    assert set(compose["services"]) == {"postgres", "redis", "mlflow", *PORTAL_SERVICES}


@pytest.mark.parametrize(
    "name", ["postgres", "redis", "mlflow", "web", "worker", "periodic", "beat", "watcher"]
)
def test_long_running_services_have_a_health_check(compose, name):
    check = compose["services"][name]["healthcheck"]
    assert check["test"][0] in {"CMD", "CMD-SHELL"} and len(check["test"]) > 1


def test_dependencies_wait_for_health_and_migrations(compose):
    services = compose["services"]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ["web", "worker", "periodic", "beat", "watcher"]:
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
    assert services["web"]["depends_on"]["mlflow"]["condition"] == "service_healthy"
    for service in services.values():
        assert set(service.get("depends_on", {})) <= set(services)


def test_mlflow_runs_as_the_design_says(compose):
    mlflow = compose["services"]["mlflow"]
    command = mlflow["command"]
    assert command[:2] == ["mlflow", "server"]
    option = {command[i]: command[i + 1] for i in range(2, len(command) - 1) if command[i].startswith("--")}
    assert option["--workers"] == "1"
    assert option["--backend-store-uri"].startswith("postgresql+psycopg://")
    assert option["--backend-store-uri"].endswith("@postgres:5432/mlflow")
    assert "--artifacts-destination" in option
    assert "mlflow:5000" in option["--allowed-hosts"].split(",")
    assert mlflow["environment"]["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    init = (ROOT / "docker" / "postgres" / "create-mlflow-database.sql").read_text()
    assert "CREATE DATABASE mlflow" in init


@pytest.mark.parametrize("name", PORTAL_SERVICES)
def test_portal_services_get_the_12_factor_environment(compose, name):
    env = compose["services"][name]["environment"]
    for variable in [
        "DEBUG",
        "SECRET_KEY",
        "ALLOWED_HOSTS",
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "MLFLOW_TRACKING_URI",
        "TALLER_EXECUTOR",
    ]:
        assert env.get(variable), variable
    assert env["DEBUG"] == "false"
    assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
    assert env["CELERY_BROKER_URL"].startswith("redis://redis:6379/")
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"


def test_every_variable_set_is_read_by_the_settings(compose):
    settings_source = (ROOT / "portal" / "settings.py").read_text()
    read = set(re.findall(r"""(?:environ\.get|env\w+)\(\s*["']([A-Z0-9_]+)["']""", settings_source))
    assert set(compose["services"]["web"]["environment"]) <= read


def _command_target(command: list[str]) -> str:
    if command[:2] == ["nice", "-n"] and command[2].isdigit():
        command = command[3:]  # the same program at a lower CPU priority
    if command[:2] == ["python", "manage.py"]:
        assert command[2] in get_commands(), f"no manage.py command {command[2]!r}"
        return f"manage.py {command[2]}"
    if command[0] == "celery":
        assert command[1] == "-A"
        app = importlib.import_module(f"{command[2]}.celery").app
        assert app.main == command[2]
        assert command[3] in {"worker", "beat"}
        return f"celery {command[3]}"
    if command[0] == "gunicorn":
        module = importlib.import_module(command[1])
        assert callable(module.application)
        return "gunicorn"
    if command[0] == "mlflow":
        assert Path(sys.executable).with_name("mlflow").exists()
        return "mlflow"
    raise AssertionError(f"unexpected command {command}")


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("migrate", "manage.py migrate"),
        ("web", "gunicorn"),
        ("worker", "celery worker"),
        ("periodic", "celery worker"),
        ("beat", "celery beat"),
        ("watcher", "manage.py watch_jobs"),
        ("mlflow", "mlflow"),
    ],
)
def test_commands_name_real_programs(compose, name, target):
    assert _command_target(compose["services"][name]["command"]) == target


def test_dockerfile_builds_the_portal_image():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "\nFROM python:3.11-slim\n" in dockerfile
    assert "pip install ." in dockerfile and "collectstatic" in dockerfile
    assert "\nUSER taller\n" in dockerfile
    cmd = json.loads(re.search(r"^CMD (.+)$", dockerfile, re.M).group(1))
    assert _command_target(cmd) == "gunicorn"


def test_docker_compose_reads_the_file():
    """Debian's docker-compose (installed by `make test`) interpolates and checks the file as Compose does."""
    env = {"PATH": os.environ["PATH"], "SECRET_KEY": "k" * 60, "POSTGRES_PASSWORD": "pw"}
    result = subprocess.run(
        ["docker-compose", "--file", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    del env["SECRET_KEY"]
    result = subprocess.run(
        ["docker-compose", "--file", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "set SECRET_KEY" in result.stderr


def test_jobs_address_beside_the_public_one(compose):
    """The public https address and the in-cluster one (a Service, over plain http once ^mlflow/ is
    exempt from the redirect) are shown side by side, in the file and in the README."""
    env = compose["services"]["web"]["environment"]
    assert env["TALLER_PUBLIC_URL"].startswith("${TALLER_PUBLIC_URL:-https://")
    assert env["TALLER_JOB_PORTAL_URL"].startswith("${TALLER_JOB_PORTAL_URL:-https://")
    assert "SECURE_REDIRECT_EXEMPT" in env
    text = (ROOT / "docker-compose.yml").read_text()
    example = re.search(
        r"#\s+TALLER_JOB_PORTAL_URL=(http://\S+\.svc\S*)\n\s+#\s+SECURE_REDIRECT_EXEMPT=(\S+)", text
    )
    assert example and example.group(2) == "^mlflow/"
    readme = (ROOT / "README.md").read_text()
    assert f"TALLER_JOB_PORTAL_URL={example.group(1)}" in readme and "TALLER_PUBLIC_URL=https://" in readme
    assert "docs/operations.md" in readme and (ROOT / "docs" / "operations.md").exists()
