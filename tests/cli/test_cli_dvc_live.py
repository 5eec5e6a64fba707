"""`taller dvc-remote set|show|clear` and `taller submit --git-url URL --dvc TARGET` over real HTTP
against a live portal, with a real DVC project served by the test git server."""

import json

import pytest
from click.testing import CliRunner

from clusterjobs.models import Job
from clusterjobs.sources.models import DvcRemote
from portal.accounts.actions import create_token
from taller_cli.main import cli

SECRET = "dvc-secret-from-stdin-only"


@pytest.fixture(autouse=True)
def _as_bob(live_server, personas, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("TALLER_URL", live_server.url)
    monkeypatch.setenv("TALLER_TOKEN", create_token(personas.bob, "cli")[1])


def as_user(monkeypatch, user) -> None:
    monkeypatch.setenv("TALLER_TOKEN", create_token(user, "cli")[1])


def taller(*args: str, stdin: str | None = None):
    return CliRunner().invoke(cli, list(args), input=stdin)


SET = ("dvc-remote", "set", "-p", "genomics", "--url", "s3://lab-data/genomics", "--access-key-id", "AKIA1")


def test_dvc_remote_set_show_and_clear(personas, monkeypatch):
    refused = taller(*SET, "--secret-access-key-stdin", stdin=SECRET)
    assert refused.exit_code == 1 and len(refused.stderr.splitlines()) == 1  # bob is a member, not an owner
    assert "HTTP 403" in refused.stderr

    as_user(monkeypatch, personas.alice)
    done = taller(*SET, "--secret-access-key-stdin", stdin=SECRET)
    assert done.exit_code == 0, done.stderr
    assert (
        "genomics pulls DVC data from s3://lab-data/genomics (s3, with a key pair), set by alice"
        in done.stdout
    )
    assert SECRET not in done.stdout
    assert DvcRemote.objects.get().env()["TALLER_DVC_SECRET_ACCESS_KEY"] == SECRET
    bad = taller("dvc-remote", "set", "-p", "genomics", "--url", "https://not-a-bucket")
    assert bad.exit_code == 1 and len(bad.stderr.splitlines()) == 1 and "s3://bucket/prefix" in bad.stderr
    assert taller(*SET, "--secret-access-key-stdin", stdin="").exit_code == 1

    as_user(monkeypatch, personas.vera)
    shown = taller("dvc-remote", "show", "-p", "genomics", "--json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["has_credential"] is True
    assert SECRET not in shown.stdout
    assert taller("dvc-remote", "clear", "-p", "genomics").exit_code == 1

    as_user(monkeypatch, personas.charlie)
    hidden = taller("dvc-remote", "show", "-p", "genomics")
    assert hidden.exit_code == 1 and "HTTP 404" in hidden.stderr

    as_user(monkeypatch, personas.alice)
    cleared = taller("dvc-remote", "clear", "-p", "genomics")
    assert cleared.exit_code == 0 and "no DVC remote now" in cleared.stdout
    assert "has no DVC remote" in taller("dvc-remote", "show", "-p", "genomics").stdout


def test_submit_with_dvc_targets(personas, mlflow_uri, dvc_git):
    from clusterjobs.sources import remotes

    server, repo = dvc_git
    remotes.set_remote(personas.alice, personas.project, kind="s3", url="s3://lab-data/genomics")

    def submit(*args):
        return taller("submit", "-p", "genomics", *args, "--json", "--", "python", "train.py")

    result = submit("--git-url", server.url("data-lab"), "--dvc", "data/train.csv", "--dvc", "prepare")
    assert result.exit_code == 0, result.stderr
    job = Job.objects.get(pk=json.loads(result.stdout)["id"])
    assert job.source["dvc"] == ["data/train.csv", "prepare"]
    assert [pin["path"] for pin in job.source["data"]] == ["data/train.csv", "data/prepared.csv"]
    missing = submit("--git-url", server.url("data-lab"), "--dvc", "data/nope.csv")
    assert missing.exit_code == 1 and len(missing.stderr.splitlines()) == 1
    assert "The DVC target data/nope.csv is not tracked" in missing.stderr
    assert taller("submit", "-p", "genomics", "--dvc", "data/train.csv", "--", "python").exit_code == 2
