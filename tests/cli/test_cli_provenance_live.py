"""`taller provenance job|run|model` (with `--ro-crate`) and `taller reproduce job|run|model` end to
end over real HTTP against a live portal and the session's real MLflow server."""

import json

import pytest
from django.core.cache import cache
from rocrate.rocrate import ROCrate

from clusterjobs.models import Job
from portal.accounts.actions import create_token
from tests.clusterjobs.provenance_setup import COMMIT, DIGEST, made_job

from .test_cli_live import assert_one_error_line, taller

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _own_config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    cache.clear()


@pytest.fixture
def as_user(live_server, personas, mlflow_uri, monkeypatch, settings):
    settings.TALLER_GIT_TRUSTED_HOSTS = ["github.com"]  # no name lookups in tests

    def use(who: str) -> None:
        monkeypatch.setenv("TALLER_URL", live_server.url)
        monkeypatch.setenv("TALLER_TOKEN", create_token(getattr(personas, who), "cli")[1])

    return use


def test_provenance_of_a_job_run_and_model_version(as_user, personas, mlflow_uri, tmp_path):
    made = made_job(personas.project, personas.bob, mlflow_uri=mlflow_uri)
    as_user("vera")
    shown = taller("provenance", "job", str(made.job.pk), "--ro-crate", str(tmp_path / "crate.zip"))
    assert shown.exit_code == 0, shown.stderr
    assert f"https://github.com/lab/genomics-train/commit/{COMMIT}" in shown.stdout
    assert "cells.csv" in shown.stdout and "param lr" in shown.stdout and DIGEST in shown.stdout
    crate = ROCrate(tmp_path / "crate.zip")
    action = next(e for e in crate.get_entities() if e.type == "CreateAction")
    assert {e.id for e in action["instrument"]} == {"#code", "#image"}

    run = taller(
        "provenance", "run", made.run_id, "--json", "--ro-crate", str(tmp_path / "ro-crate-metadata.json")
    )
    assert run.exit_code == 0, run.stderr
    assert json.loads(run.stdout)["job"]["id"] == made.job.pk
    assert json.loads((tmp_path / "ro-crate-metadata.json").read_text())["@graph"]
    model = taller("provenance", "model", "-p", "genomics", "classifier", made.version, "--json")
    assert json.loads(model.stdout)["model_version"]["version"] == made.version

    assert_one_error_line(taller("provenance", "run", "nope"), 1, "(HTTP 404)")
    as_user("charlie")
    assert_one_error_line(taller("provenance", "job", str(made.job.pk)), 1, "(HTTP 404)")


def test_reproduce_from_each_kind(as_user, personas, mlflow_uri):
    made = made_job(personas.project, personas.bob, mlflow_uri=mlflow_uri)
    as_user("bob")
    for args in (
        ("job", str(made.job.pk)),
        ("run", made.run_id),
        ("model", "-p", "genomics", "classifier", made.version),
    ):
        result = taller("reproduce", *args, "--json")
        assert result.exit_code == 0, result.stderr
        new = Job.objects.get(pk=json.loads(result.stdout)["id"])
        assert new.reproduced_from_id == made.job.pk and new.image == f"python:3.11-slim@{DIGEST}"
    said = taller("reproduce", "job", str(made.job.pk))
    assert said.exit_code == 0 and said.stdout.startswith("Reproduction submitted as job ")
    as_user("vera")
    assert_one_error_line(taller("reproduce", "job", str(made.job.pk)), 1, "(HTTP 403)")
    assert Job.objects.filter(reproduced_from=made.job).count() == 4
