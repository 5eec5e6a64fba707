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


def as_user(monkeypatch, user) -> None:
    monkeypatch.setenv("TALLER_TOKEN", create_token(user, "cli")[1])


def test_git_credential_set_show_and_remove(personas, monkeypatch, tmp_path):
    secret = "glpat-from-stdin-only"
    refused = CliRunner().invoke(
        cli,
        ["git-credential", "set", "-p", "genomics", "--username", "deploy", "--token-stdin"],
        input=secret,
    )
    assert refused.exit_code == 1 and len(refused.stderr.splitlines()) == 1  # bob is a member, not an owner
    assert "HTTP 403" in refused.stderr

    as_user(monkeypatch, personas.alice)
    done = CliRunner().invoke(
        cli,
        ["git-credential", "set", "-p", "genomics", "--username", "deploy", "--token-stdin"],
        input=secret,
    )
    assert done.exit_code == 0, done.stderr
    assert (
        "genomics has a git token for user deploy, set by alice" in done.stdout and secret not in done.stdout
    )

    as_user(monkeypatch, personas.vera)
    shown = taller("git-credential", "show", "-p", "genomics", "--json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["set"] is True and secret not in shown.stdout
    assert taller("git-credential", "remove", "-p", "genomics").exit_code == 1

    as_user(monkeypatch, personas.charlie)
    hidden = taller("git-credential", "show", "-p", "genomics")
    assert hidden.exit_code == 1 and "HTTP 404" in hidden.stderr

    as_user(monkeypatch, personas.alice)
    key = tmp_path / "id_ed25519"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n")
    assert taller("git-credential", "set", "-p", "genomics", "--ssh-key-file", str(key)).exit_code == 0
    assert "git ssh_key" in taller("git-credential", "show", "-p", "genomics").stdout
    assert taller("git-credential", "set", "-p", "genomics").exit_code == 2
    removed = taller("git-credential", "remove", "-p", "genomics")
    assert removed.exit_code == 0 and "no git credential now" in removed.stdout
    assert "has no git credential" in taller("git-credential", "show", "-p", "genomics").stdout


def test_code_is_uploaded_once(personas, mlflow_uri, tmp_path, settings):
    settings.TALLER_EXECUTOR = "local"
    backend = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    settings.STORAGES = {
        **settings.STORAGES,
        "snapshots": {**backend, "OPTIONS": {"location": str(tmp_path / "s")}},
    }
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "train.py").write_text("print('hi')\n")
    (folder / ".gitignore").write_text("*.ckpt\n")
    (folder / "weights.ckpt").write_text("big")

    first = submit("--code", str(folder))
    assert first.exit_code == 0, first.stderr
    assert "uploaded." in first.stderr and "already" not in first.stderr
    again = submit("--code", str(folder))
    assert again.exit_code == 0, again.stderr
    assert "already uploaded." in again.stderr
    jobs = Job.objects.order_by("pk")
    assert jobs.count() == 2 and jobs[0].source == jobs[1].source and "snapshot" in jobs[0].source
    both = submit("--code", str(folder), "--git")
    assert both.exit_code == 2
