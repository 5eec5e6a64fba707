"""`taller submit --git-url URL --ref REF` and `taller submit --git` (from a checkout) over real HTTP
against a live portal, with a real git server on 127.0.0.1."""

import json

import pytest
from click.testing import CliRunner

from clusterjobs.models import Job
from portal.accounts.actions import create_token
from taller_cli.main import cli
from tests.clusterjobs.gitserver import git, serving


@pytest.fixture(autouse=True)
def _as_bob(live_server, personas, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("TALLER_URL", live_server.url)
    monkeypatch.setenv("TALLER_TOKEN", create_token(personas.bob, "cli")[1])


@pytest.fixture
def forge(tmp_path, settings):
    with serving(tmp_path / "forge", settings, "lab") as served:
        yield served


def taller(*args: str):
    return CliRunner().invoke(cli, list(args))


def submit(*args: str):
    return taller("submit", "-p", "genomics", *args, "--json", "--", "python", "train.py")


def test_git_url_and_ref(personas, mlflow_uri, forge):
    server, repo = forge
    result = submit("--git-url", server.url("lab"), "--ref", "feature")
    assert result.exit_code == 0, result.stderr
    job = Job.objects.get(pk=json.loads(result.stdout)["id"])
    assert job.source == {"git": server.url("lab"), "ref": "feature", "commit": repo.commits["feature"]}
    bad = submit("--git-url", server.url("lab"), "--ref", "nope")
    assert bad.exit_code == 1 and bad.stderr.splitlines() == [
        f"taller: error: source: No branch or tag nope in {server.url('lab')}. (HTTP 400)"
    ]
    assert taller("submit", "-p", "genomics", "--ref", "main", "--", "python").exit_code == 2


def test_git_from_a_checkout(personas, mlflow_uri, forge, tmp_path, monkeypatch):
    server, repo = forge
    clone = tmp_path / "clone"
    git("clone", "-q", server.url("lab"), str(clone))
    git("checkout", "-q", "feature", cwd=clone)
    monkeypatch.chdir(clone)

    result = submit("--git")
    assert result.exit_code == 0, result.stderr
    job = Job.objects.get(pk=json.loads(result.stdout)["id"])
    assert job.source == {"git": server.url("lab"), "ref": "feature", "commit": repo.commits["feature"]}

    (clone / "train.py").write_text("changed\n")
    dirty = submit("--git")
    assert dirty.exit_code == 1 and len(dirty.stderr.splitlines()) == 1
    assert "uncommitted changes" in dirty.stderr

    git("commit", "-q", "-am", "not pushed", cwd=clone)
    unpushed = submit("--git")
    assert (
        unpushed.exit_code == 1
        and "is not on origin" in unpushed.stderr
        and "push it first" in unpushed.stderr
    )
    assert Job.objects.count() == 1
