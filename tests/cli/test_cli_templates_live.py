"""`taller templates ...` and `taller submit --template` over real HTTP against a live portal."""

import json

import pytest
from click.testing import CliRunner

from clusterjobs.models import Job, JobTemplate
from portal.accounts.actions import create_token
from taller_cli.main import cli


@pytest.fixture(autouse=True)
def _as_bob(live_server, personas, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("TALLER_URL", live_server.url)
    monkeypatch.setenv("TALLER_TOKEN", create_token(personas.bob, "cli")[1])


def taller(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_create_list_show_and_delete(personas):
    created = taller(
        "templates", "create", "-p", "genomics", "--cpu", "2", "--memory", "1Gi", "--time", "20m",
        "-e", "SEED=4", "Digits", "--", "python", "-m", "examples.train", "--epochs", "2",
    )  # fmt: skip
    assert created.exit_code == 0, created.stderr
    template = JobTemplate.objects.get(title="Digits")
    assert f"Template {template.pk} “Digits” saved in genomics." in created.stdout
    assert template.memory_mib == 1024 and template.env == {"SEED": "4"} and template.time_limit_minutes == 20

    listed = taller("templates", "list", "-p", "genomics")
    assert listed.exit_code == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["ID", "TITLE", "PROJECT", "COMMAND"]
    assert any(line.split()[:3] == [str(template.pk), "Digits", "genomics"] for line in lines[1:])

    shown = taller("templates", "show", "-p", "genomics", "Digits", "--json")
    assert shown.exit_code == 0, shown.stderr
    assert json.loads(shown.stdout)["resources"]["cpu"] == "2.000"

    again = taller("templates", "create", "-p", "genomics", "Digits", "--", "python")
    assert again.exit_code == 1
    assert again.stderr.splitlines() == [
        "taller: error: title: The project already has a template of this title. (HTTP 400)"
    ]

    deleted = taller("templates", "delete", "-p", "genomics", "Digits")
    assert deleted.exit_code == 0 and not JobTemplate.objects.filter(title="Digits").exists()
    missing = taller("templates", "show", "-p", "genomics", "Digits")
    assert missing.exit_code == 1 and len(missing.stderr.splitlines()) == 1
    assert "has no template “Digits”" in missing.stderr


def test_submit_from_a_template(personas, mlflow_uri):
    JobTemplate.objects.create(
        project=personas.project,
        title="Short digits",
        image="python:3.11-slim",
        command=["python", "-m", "examples.train", "--epochs", "1"],
        env={"SEED": "1"},
        memory_mib=1536,
        time_limit_minutes=15,
    )
    result = taller("submit", "-p", "genomics", "--template", "Short digits", "-e", "SEED=2", "--json")
    assert result.exit_code == 0, result.stderr
    job = Job.objects.get(pk=json.loads(result.stdout)["id"])
    assert job.name == "Short digits" and job.command == ["python", "-m", "examples.train", "--epochs", "1"]
    assert job.env == {"SEED": "2"} and job.memory_mib == 1536 and job.time_limit_minutes == 15
    # A command after -- replaces the template's.
    result = taller("submit", "-p", "genomics", "-t", "Short digits", "--", "python", "-c", "print(1)")
    assert result.exit_code == 0, result.stderr
    assert Job.objects.latest("pk").command == ["python", "-c", "print(1)"]


def test_submit_needs_a_command_or_a_template():
    result = taller("submit", "-p", "genomics")
    assert result.exit_code == 2
    assert "give the command after --, or --template NAME" in result.stderr
