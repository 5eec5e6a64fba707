"""`taller model`, `alias`, `tag`, `metrics`, `artifacts`, `download` and `compare` end to end over
real HTTP against a live portal and the session's real MLflow server."""

import json

import pytest

from experiments import gateway
from portal.accounts.actions import create_token
from tests.experiments.conftest import log_example

from .test_cli_live import assert_one_error_line, taller

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _own_config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


@pytest.fixture
def as_user(live_server, personas, mlflow_uri, monkeypatch):
    def use(who: str) -> None:
        monkeypatch.setenv("TALLER_URL", live_server.url)
        monkeypatch.setenv("TALLER_TOKEN", create_token(getattr(personas, who), "cli")[1])

    return use


def test_model_aliases_and_tags(as_user, personas):
    logged = log_example("genomics")
    as_user("bob")
    shown = taller("model", "-p", "genomics", "classifier", "--json")
    assert shown.exit_code == 0, shown.stderr
    version = json.loads(shown.stdout)["versions"][0]["version"]
    assert json.loads(shown.stdout)["versions"][0]["run_id"] == logged.run_id

    assert taller("alias", "-p", "genomics", "classifier", "champion", version).exit_code == 0
    assert taller("tag", "-p", "genomics", "classifier", version, "stage", "prod").exit_code == 0
    table = taller("model", "-p", "genomics", "classifier").stdout
    assert f"champion -> v{version}" in table and '"stage":"prod"' in table
    assert gateway.get_version("genomics", "genomics.classifier", version)["tags"]["stage"] == "prod"

    assert taller("alias", "-p", "genomics", "classifier", "champion", "--delete").exit_code == 0
    assert taller("tag", "-p", "genomics", "classifier", version, "stage", "--delete").exit_code == 0
    after = gateway.get_version("genomics", "genomics.classifier", version)
    assert "champion" not in after["aliases"] and "stage" not in after["tags"]

    assert_one_error_line(taller("alias", "-p", "genomics", "classifier", "champion"), 2, "VERSION")
    assert_one_error_line(taller("tag", "-p", "genomics", "classifier", version, "taller.x", "1"), 1, "key:")
    as_user("vera")
    assert_one_error_line(
        taller("alias", "-p", "genomics", "classifier", "champion", version), 1, "(HTTP 403)"
    )
    as_user("charlie")
    assert_one_error_line(taller("model", "-p", "genomics", "classifier"), 1, "(HTTP 404)")


def test_metrics_artifacts_download_and_compare(as_user, personas, tmp_path, monkeypatch):
    first = log_example("genomics", metrics={"acc": 0.5})
    second = log_example("genomics", metrics={"acc": 0.75})
    as_user("vera")
    history = taller("metrics", first.run_id, "loss")
    assert history.exit_code == 0, history.stderr
    assert [line.split()[0] for line in history.stdout.splitlines()] == ["STEP", "0", "1", "2", "3", "4"]
    assert json.loads(taller("metrics", first.run_id, "--json").stdout)["acc"] == 0.5
    assert_one_error_line(taller("metrics", first.run_id, "nope"), 1, "no metric 'nope'")

    listed = taller("artifacts", first.run_id, "--path", "notes")
    assert listed.stdout.splitlines()[1].split()[0] == "notes/readme.txt"
    monkeypatch.chdir(tmp_path)
    saved = taller("download", first.run_id, "notes/readme.txt")
    assert saved.exit_code == 0, saved.stderr
    assert (tmp_path / "readme.txt").read_text() == "hello from genomics"
    assert_one_error_line(taller("download", first.run_id, "../etc/passwd", "-o", "x"), 1, "path:")
    assert not (tmp_path / "x").exists()

    compared = taller("compare", "-p", "genomics", first.run_id, second.run_id)
    assert compared.exit_code == 0, compared.stderr
    acc = [line for line in compared.stdout.splitlines() if "metrics.acc" in line][0]
    assert acc.split() == ["*", "metrics.acc", "0.5", "0.75"]
    assert_one_error_line(taller("compare", "-p", "genomics", first.run_id), 1, "runs:")
