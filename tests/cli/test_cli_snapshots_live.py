"""`taller submit --git --with-changes` (a checkout's uncommitted changes sent as a snapshot on top
of its commit, which the job then runs exactly) and `taller snapshot list|delete`, over real HTTP
against a live portal, with a real git server on 127.0.0.1 and the local executor."""

import json

import pytest
from click.testing import CliRunner

from clusterjobs.backends import get_backend
from clusterjobs.models import Job
from portal.accounts.actions import create_token
from taller_cli.main import cli
from tests.clusterjobs.conftest import make_spec
from tests.clusterjobs.gitserver import git, serving


@pytest.fixture(autouse=True)
def _as_bob(live_server, personas, tmp_path, monkeypatch, settings):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("TALLER_URL", live_server.url)
    monkeypatch.setenv("TALLER_TOKEN", create_token(personas.bob, "cli")[1])
    backend = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    settings.STORAGES = {
        **settings.STORAGES,
        "snapshots": {**backend, "OPTIONS": {"location": str(tmp_path / "s")}},
    }


@pytest.fixture
def local_executor(settings, httpserver):
    """The local backend; its jobs' tracking address a stub the runner asks before the command."""
    settings.TALLER_EXECUTOR = "local"
    httpserver.expect_request("/mlflow/api/2.0/mlflow/runs/get").respond_with_json({"run": {}})
    settings.TALLER_JOB_TRACKING_URI = httpserver.url_for("/mlflow")
    settings.TALLER_LOCAL_POLL_SECONDS = 0.1
    return get_backend("local")


@pytest.fixture
def forge(tmp_path, settings):
    with serving(tmp_path / "forge", settings, "lab", files={"train.py": "print('committed')\n"}) as served:
        yield served


def taller(*args: str):
    return CliRunner().invoke(cli, list(args))


def submit(*args: str):
    return taller("submit", "-p", "genomics", *args, "--json", "--", "python", "train.py")


def test_uncommitted_changes_run_exactly_on_top_of_the_commit(
    personas, mlflow_uri, forge, tmp_path, monkeypatch, local_executor
):
    server, repo = forge
    local = local_executor
    clone = tmp_path / "clone"
    git("clone", "-q", server.url("lab"), str(clone))
    monkeypatch.chdir(clone)

    clean = submit("--git", "--with-changes")
    assert clean.exit_code == 0, clean.stderr
    assert "snapshot" not in Job.objects.get(pk=json.loads(clean.stdout)["id"]).source  # the commit is exact

    (clone / "train.py").write_text("print('changed, not committed')\n")
    (clone / "new.py").write_text("NEW = 1\n")
    (clone / ".gitignore").write_text("*.ckpt\n")
    (clone / "weights.ckpt").write_text("big")
    (clone / "README").unlink()
    assert submit("--git").exit_code == 1  # without the flag: refused, as before

    result = submit("--git", "--with-changes")
    assert result.exit_code == 0, result.stderr
    assert "Uncommitted changes: snapshot" in result.stderr and "uploaded." in result.stderr
    job = Job.objects.get(pk=json.loads(result.stdout)["id"])
    assert job.source["commit"] == repo.commits["main"] and job.source["git"] == server.url("lab")
    digest = job.source["snapshot"]
    again = submit("--git", "--with-changes")
    assert again.exit_code == 0 and "already uploaded." in again.stderr
    assert Job.objects.get(pk=json.loads(again.stdout)["id"]).source == job.source  # reproducible

    command = ["sh", "-c", "ls -A; cat train.py; git rev-parse HEAD"]
    local.submit(make_spec(91, command=command, source=job.source, time_limit_seconds=120))
    status = local.wait(91, 120)
    lines = local.logs(91, "genomics")
    assert status.phase == "succeeded", (status.reason, lines)
    tree = lines[lines.index("taller: unpacked 3 files of the code snapshot") + 1 :]
    assert tree == [
        ".git",
        ".gitignore",
        "new.py",
        "train.py",
        "print('changed, not committed')",
        repo.commits["main"],
    ]
    assert f"taller: checked out {repo.commits['main']}" in lines

    listed = taller("snapshot", "list", "-p", "genomics", "--json")
    assert listed.exit_code == 0, listed.stderr
    assert [(row["digest"], row["jobs"]) for row in json.loads(listed.stdout)] == [(digest, 2)]


def test_with_changes_needs_git():
    result = taller("submit", "-p", "genomics", "--with-changes", "--", "python", "train.py")
    assert result.exit_code == 2 and "--with-changes needs --git" in result.stderr


def test_snapshot_list_and_delete(personas, mlflow_uri, tmp_path, monkeypatch, settings):
    settings.TALLER_EXECUTOR = "local"
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "train.py").write_text("print('hi')\n")
    assert submit("--code", str(folder)).exit_code == 0
    digest = Job.objects.get().source["snapshot"]

    table = taller("snapshot", "list", "-p", "genomics")
    assert table.exit_code == 0 and digest[:12] in table.stdout and "JOBS" in table.stdout
    in_use = taller("snapshot", "delete", "-p", "genomics", digest)
    assert in_use.exit_code == 1 and len(in_use.stderr.splitlines()) == 1
    assert "jobs name this snapshot" in in_use.stderr and "HTTP 409" in in_use.stderr
    short = taller("snapshot", "delete", "-p", "genomics", digest[:6])
    assert short.exit_code == 1 and "first 8 digits" in short.stderr
    unknown = taller("snapshot", "delete", "-p", "genomics", "0" * 12 if digest[0] != "0" else "1" * 12)
    assert unknown.exit_code == 1 and "no snapshot of genomics starts with" in unknown.stderr

    Job.objects.all().delete()
    monkeypatch.setenv("TALLER_TOKEN", create_token(personas.vera, "cli")[1])
    viewer = taller("snapshot", "delete", "-p", "genomics", digest)
    assert viewer.exit_code == 1 and "HTTP 403" in viewer.stderr
    monkeypatch.setenv("TALLER_TOKEN", create_token(personas.charlie, "cli")[1])
    assert "HTTP 404" in taller("snapshot", "list", "-p", "genomics").stderr
    monkeypatch.setenv("TALLER_TOKEN", create_token(personas.bob, "cli")[1])
    done = taller("snapshot", "delete", "-p", "genomics", digest[:12])
    assert done.exit_code == 0 and f"snapshot {digest[:12]} deleted" in done.stdout
    assert digest not in taller("snapshot", "list", "-p", "genomics").stdout
