"""`taller deploy` and `taller deployments ...` over real HTTP against a live portal."""

import json

import pytest
from click.testing import CliRunner

from deployments.models import Deployment, DeploymentStatus
from portal.accounts.actions import create_token
from taller_cli.main import cli

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _as_bob(live_server, personas, tmp_path, monkeypatch, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("TALLER_URL", live_server.url)
    monkeypatch.setenv("TALLER_TOKEN", create_token(personas.bob, "cli")[1])


def taller(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_deploy_update_roll_back_scale_and_stop(personas, registered):
    created = taller(
        "deploy",
        "-p",
        "genomics",
        "--alias",
        "champion",
        "--cpu",
        "500m",
        "--memory",
        "512Mi",
        "digits",
        "digits",
    )
    assert created.exit_code == 0, created.stderr
    assert "Deployment digits of digits v1 is starting." in created.stdout
    assert "POST /serve/genomics/digits/invocations" in created.stdout
    deployment = Deployment.objects.get(name="digits")
    assert (deployment.alias, deployment.cpu, deployment.memory_mib) == ("champion", 0.5, 512)

    listed = taller("deployments", "list", "-p", "genomics")
    assert listed.stdout.splitlines()[1].split()[:3] == ["digits", "digits", "1"]
    updated = taller("deployments", "update", "-p", "genomics", "digits", "--version", "2", "--json")
    assert json.loads(updated.stdout)["version"] == "2"
    assert (
        json.loads(taller("deployments", "rollback", "-p", "genomics", "digits", "--json").stdout)["version"]
        == "1"
    )
    assert (
        json.loads(taller("deployments", "scale", "-p", "genomics", "digits", "2", "--json").stdout)[
            "replicas"
        ]
        == 2
    )
    shown = taller("deployments", "show", "-p", "genomics", "digits")
    assert "replicas" in shown.stdout and "/serve/genomics/digits/invocations" in shown.stdout
    assert taller("deployments", "stop", "-p", "genomics", "digits").exit_code == 0
    assert Deployment.objects.get(name="digits").status == DeploymentStatus.STOPPED


def test_refusals_are_one_line_on_stderr(personas, registered):
    refused = taller("deploy", "-p", "genomics", "--version", "7", "digits", "digits")
    assert refused.exit_code != 0
    assert "no version 7" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    missing = taller("deployments", "stop", "-p", "genomics", "nothing")
    assert missing.exit_code != 0 and "no deployment “nothing”" in missing.stderr
    assert not Deployment.objects.exists()


def test_keys_made_listed_and_revoked(personas):
    deployment = Deployment.objects.create(
        project=personas.project, name="digits", model_name="genomics.digits", version="1",
        status=DeploymentStatus.RUNNING, created_by=personas.bob,
    )  # fmt: skip
    made = taller("deployments", "keys", "create", "-p", "genomics", "digits", "demo page")
    assert made.exit_code == 0, made.stderr
    assert made.stdout.strip().startswith("tdk_") and "not shown again" in made.stderr
    key = deployment.keys.get()
    listed = taller("deployments", "keys", "list", "-p", "genomics", "digits")
    assert listed.stdout.splitlines()[1].split()[:2] == [str(key.pk), "demo"]
    assert taller("deployments", "keys", "revoke", "-p", "genomics", "digits", str(key.pk)).exit_code == 0
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_sampling_set_and_samples_read(personas, monkeypatch):
    from deployments.models import CallSample

    deployment = Deployment.objects.create(
        project=personas.project, name="digits", model_name="genomics.digits", version="1",
        status=DeploymentStatus.RUNNING, created_by=personas.bob,
    )  # fmt: skip
    made = taller("deployments", "sampling", "-p", "genomics", "digits", "--fraction", "0.5", "--days", "3")
    assert made.exit_code == 0, made.stderr
    deployment.refresh_from_db()
    assert (deployment.sample_fraction, deployment.sample_retention_days) == (0.5, 3)
    bad = taller("deployments", "sampling", "-p", "genomics", "digits", "--fraction", "0.5", "--days", "999")
    assert bad.exit_code != 0 and len(bad.stderr.strip().splitlines()) == 1
    for n in range(3):
        CallSample.objects.create(
            deployment=deployment, status=200, latency_ms=n, content_type="application/json",
            request_body=f'{{"n": {n}}}'.encode(), response_body=b'{"predictions": [1]}',
        )  # fmt: skip
    listed = taller("deployments", "samples", "-p", "genomics", "digits", "--jsonl")
    assert listed.exit_code == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [row["request"] for row in rows] == ['{"n": 2}', '{"n": 1}', '{"n": 0}']
    table = taller("deployments", "samples", "-p", "genomics", "digits", "--since", "2000-01-01T00:00:00Z")
    assert table.exit_code == 0 and len(table.stdout.splitlines()) == 4
    monkeypatch.setenv("TALLER_TOKEN", create_token(personas.vera, "cli")[1])
    refused = taller("deployments", "samples", "-p", "genomics", "digits")
    assert refused.exit_code != 0 and "HTTP 403" in refused.stderr
