"""`taller pipeline ...` over real HTTP against a live portal: run a YAML file, validate, list,
show, cancel, re-run; a refused definition is one line on stderr and exit status 1."""

import json

import pytest
from click.testing import CliRunner

from pipelines.models import Pipeline, PipelineRun
from portal.accounts.actions import create_token
from taller_cli.main import cli

YAML = """project: genomics
name: nightly
steps:
  - name: prepare
    command: [python, -c, "print(1)"]
  - name: train
    depends_on: [prepare]
    command: [python, -c, "print(2)"]
"""


@pytest.fixture(autouse=True)
def _as_bob(live_server, personas, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("TALLER_URL", live_server.url)
    monkeypatch.setenv("TALLER_TOKEN", create_token(personas.bob, "cli")[1])


def taller(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_run_list_show_cancel_and_rerun(personas, mlflow_uri, tmp_path):
    path = tmp_path / "pipeline.yaml"
    path.write_text(YAML)
    checked = taller("pipeline", "validate", str(path))
    assert checked.exit_code == 0, checked.stderr
    assert checked.stdout.strip() == "nightly: valid, 2 step(s): prepare, train"
    assert not Pipeline.objects.exists()

    started = taller("pipeline", "run", str(path), "--json")
    assert started.exit_code == 0, started.stderr
    run = json.loads(started.stdout)
    assert run["pipeline"] == "nightly" and [s["name"] for s in run["steps"]] == ["prepare", "train"]

    listed = taller("pipeline", "list", "-p", "genomics")
    assert listed.exit_code == 0, listed.stderr
    assert listed.stdout.splitlines()[1].split()[:4] == [str(run["id"]), "nightly", "genomics", "running"]
    shown = taller("pipeline", "show", str(run["id"]))
    assert shown.exit_code == 0 and "train" in shown.stdout and "waiting" in shown.stdout

    cancelled = taller("pipeline", "cancel", str(run["id"]))
    assert cancelled.exit_code == 0, cancelled.stderr
    assert cancelled.stdout.strip() == f"pipeline run {run['id']}: cancelled"
    again = taller("pipeline", "rerun", str(run["id"]), "--from-failed", "--json")
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["rerun_of"] == run["id"]


def test_a_refused_definition_is_one_line(tmp_path):
    path = tmp_path / "cycle.yaml"
    path.write_text(YAML.replace("depends_on: [prepare]", "depends_on: [train]"))
    result = taller("pipeline", "run", str(path))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == ["taller: error: steps: Step “train” depends on itself. (HTTP 400)"]
    assert not PipelineRun.objects.exists()
    missing = taller("pipeline", "run", str(tmp_path / "nope.yaml"))
    assert missing.exit_code == 1 and missing.stderr.startswith("taller: error: cannot read")


def test_define_and_schedule(personas, tmp_path):
    path = tmp_path / "pipeline.yaml"
    path.write_text(YAML)
    defined = taller("pipeline", "define", str(path))
    assert defined.exit_code == 0 and defined.stdout.strip() == "pipeline nightly saved in genomics"
    created = taller("schedule", "create", "-p", "genomics", "--pipeline", "nightly", "--cron", "30 2 * * *",
                     "--tz", "Europe/Madrid", "--json")  # fmt: skip
    assert created.exit_code == 0, created.stderr
    row = json.loads(created.stdout)
    assert len(row["next_times"]) == 5 and row["timezone"] == "Europe/Madrid"
    listed = taller("schedule", "list")
    assert listed.exit_code == 0 and "30 2 * * *" in listed.stdout
    assert taller("schedule", "pause", str(row["id"])).stdout.strip() == f"schedule {row['id']} paused"
    assert taller("schedule", "resume", str(row["id"])).exit_code == 0
    shown = taller("schedule", "show", str(row["id"]))
    assert "Europe/Madrid" in shown.stdout
    bad = taller("schedule", "create", "-p", "genomics", "--pipeline", "nightly", "--cron", "* * * * *")
    assert bad.exit_code == 1 and bad.stderr.startswith("taller: error: cron: It fires more often")
    assert taller("schedule", "delete", str(row["id"])).exit_code == 0


def test_schedule_a_single_job(personas, tmp_path):
    from decimal import Decimal

    from clusterjobs.models import JobTemplate
    from pipelines.models import Schedule

    template = JobTemplate.objects.create(
        project=personas.project, title="Evaluate", command=["python", "-c", "print(1)"], cpu=Decimal("1")
    )
    made = taller(
        "schedule",
        "create",
        "-p",
        "genomics",
        "--template",
        str(template.pk),
        "--cron",
        "0 4 * * *",
        "--json",
    )
    assert made.exit_code == 0, made.stderr
    assert json.loads(made.stdout)["job"]["name"] == "Evaluate"
    path = tmp_path / "job.yaml"
    path.write_text("name: nightly-eval\ncommand: [python, -c, 'print(2)']\nresources: {cpu: 0.5}\n")
    made = taller("schedule", "create", "-p", "genomics", "--job", str(path), "--cron", "0 5 * * *")
    assert made.exit_code == 0, made.stderr
    assert "job nightly-eval" in made.stdout
    listed = taller("schedule", "list")
    assert "job Evaluate (template" in listed.stdout and "job nightly-eval" in listed.stdout
    path.write_text("name: x\ncommand: [python]\nresources: {cpu: 99}\n")
    bad = taller("schedule", "create", "-p", "genomics", "--job", str(path), "--cron", "0 5 * * *")
    assert bad.exit_code == 1 and bad.stderr.startswith("taller: error: job: cpu: At most")
    assert len(bad.stderr.splitlines()) == 1
    both = taller(
        "schedule", "create", "-p", "genomics", "--job", str(path), "--template", "1", "--cron", "0 5 * * *"
    )
    assert (
        both.exit_code == 1
        and both.stderr.strip() == "taller: error: give one of --pipeline, --template or --job"
    )
    assert Schedule.objects.count() == 2
