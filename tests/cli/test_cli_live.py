"""`taller` end to end over real HTTP against a live portal: login, projects, and every error path.

The job, run and quota commands are exercised end to end with jobs running in
test_cli_jobs_live.py; argument parsing and error handling are in test_parsing.py.
"""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from portal.accounts.actions import create_token, revoke_token
from taller_cli.client import Api, ApiError
from taller_cli.config import config_path
from taller_cli.main import cli
from tests.conftest import free_port
from tests.factories import ProjectFactory

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _own_config_dir(tmp_path, monkeypatch):
    """Each test has its own config folder and no TALLER_* variables from the caller."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("TALLER_URL", raising=False)
    monkeypatch.delenv("TALLER_TOKEN", raising=False)


@pytest.fixture
def key(personas) -> str:
    return create_token(personas.bob, "cli")[1]


def taller(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input)


def assert_one_error_line(result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("taller: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def test_login_checks_the_token_and_saves_it_for_the_user_alone(live_server, key):
    result = taller("login", "--url", live_server.url + "/", "--token", key)
    assert result.exit_code == 0, result.stderr
    assert "Logged in to" in result.stdout
    path = config_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert json.loads(path.read_text()) == {"url": live_server.url, "token": key}
    projects = taller("projects")
    assert projects.exit_code == 0, projects.stderr
    lines = projects.stdout.splitlines()
    assert lines[0].split() == ["SLUG", "NAME", "STATUS", "ROLE"]
    assert lines[1].split() == ["genomics", "Genomics", "active", "member"]


def test_config_shows_where_settings_come_from_but_not_the_token(live_server, key, monkeypatch):
    assert taller("login", "--url", live_server.url, "--token", key).exit_code == 0
    shown = taller("config")
    assert shown.exit_code == 0
    assert live_server.url in shown.stdout
    assert str(config_path()) in shown.stdout
    assert key not in shown.stdout
    monkeypatch.setenv("TALLER_URL", "http://elsewhere.example")
    assert "environment" in taller("config").stdout


def test_login_prompts_for_what_is_missing_and_tightens_an_existing_file(live_server, key):
    path = config_path()
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    path.chmod(0o644)
    result = taller("login", input=f"{live_server.url}\n{key}\n")
    assert result.exit_code == 0, result.stderr
    assert key not in result.stdout  # the token is not echoed
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["token"] == key


def test_login_with_a_bad_token_saves_nothing(live_server, personas):
    result = taller("login", "--url", live_server.url, "--token", "tlr_wrong")
    assert_one_error_line(result, 1, "authentication failed", "Invalid, expired or revoked token.")
    assert not config_path().exists()


def test_login_to_an_unreachable_server(personas):
    url = f"http://127.0.0.1:{free_port()}"
    result = taller("login", "--url", url, "--token", "tlr_x")
    assert_one_error_line(result, 1, f"cannot reach {url}")
    assert not config_path().exists()


def test_login_to_something_that_is_not_a_portal(httpserver):
    httpserver.expect_request("/api/v1/projects/").respond_with_data(
        "<html>hello</html>", content_type="text/html"
    )
    result = taller("login", "--url", httpserver.url_for("/"), "--token", "tlr_x")
    assert_one_error_line(result, 1, "unexpected answer", "is it a Taller portal?")


def test_server_errors_are_one_line(httpserver, monkeypatch):
    httpserver.expect_request("/api/v1/projects/").respond_with_data("boom", status=502)
    monkeypatch.setenv("TALLER_URL", httpserver.url_for("/"))
    monkeypatch.setenv("TALLER_TOKEN", "tlr_x")
    assert_one_error_line(taller("projects"), 1, "the portal failed (HTTP 502)")


def test_projects_json_round_trips_the_api(live_server, personas, monkeypatch):
    for i in range(3):
        ProjectFactory(slug=f"extra-{i}", status="pending")
    monkeypatch.setenv("TALLER_URL", live_server.url)
    monkeypatch.setenv("TALLER_TOKEN", create_token(personas.root, "cli")[1])
    result = taller("projects", "--json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [p["slug"] for p in rows] == ["extra-0", "extra-1", "extra-2", "genomics"]
    assert rows[-1]["requested_by"] == "alice"
    pending = json.loads(taller("projects", "--status", "pending", "--json").stdout)
    assert [p["slug"] for p in pending] == ["extra-0", "extra-1", "extra-2"]


def test_environment_overrides_the_file(live_server, personas, key, monkeypatch):
    assert taller("login", "--url", live_server.url, "--token", key).exit_code == 0
    monkeypatch.setenv("TALLER_TOKEN", create_token(personas.charlie, "cli")[1])
    result = taller("projects", "--json")
    assert json.loads(result.stdout) == []  # charlie's token, not bob's
    monkeypatch.setenv("TALLER_URL", f"http://127.0.0.1:{free_port()}")
    assert_one_error_line(taller("projects"), 1, "cannot reach")


def test_a_revoked_token_is_reported(live_server, personas, monkeypatch):
    token, key = create_token(personas.bob, "cli")
    monkeypatch.setenv("TALLER_URL", live_server.url)
    monkeypatch.setenv("TALLER_TOKEN", key)
    assert taller("projects").exit_code == 0
    revoke_token(token)
    assert_one_error_line(taller("projects"), 1, "authentication failed", "taller login")


def test_a_broken_config_file_is_reported(personas):
    path = config_path()
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert_one_error_line(taller("projects"), 1, "cannot read", "taller login")


def test_api_4xx_messages_name_their_fields(live_server, key):
    """The client's 4xx handling, against the real API, on an endpoint that answers with fields."""
    api = Api(live_server.url, key)
    with pytest.raises(ApiError) as error:
        api.post("projects/", {"slug": "Bad Slug", "name": "", "colour": "red"})
    message = str(error.value)
    assert error.value.status == 400
    assert message.startswith("colour: Unknown field")
    assert message.endswith("(HTTP 400)")
    with pytest.raises(ApiError, match=r"^No such project\. \(HTTP 404\)$"):
        api.get("projects/nothing/")


def test_quota_shows_the_quota_and_its_use(live_server, key, monkeypatch):
    monkeypatch.setenv("TALLER_URL", live_server.url)
    monkeypatch.setenv("TALLER_TOKEN", key)
    result = taller("quota", "--project", "genomics", "--json")
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["project"] == "genomics" and answer["used_gpus"] == 0 and "gpu_hours_remaining" in answer
    table = taller("quota", "--project", "genomics")
    assert table.exit_code == 0 and "max_gpus" in table.stdout
    assert_one_error_line(taller("quota", "--project", "nope"), 1)


def test_console_entry_point_in_a_real_process(live_server, key):
    env = {**os.environ, "TALLER_URL": live_server.url, "TALLER_TOKEN": key}
    command = [sys.executable, "-m", "taller_cli"]
    done = subprocess.run([*command, "projects", "--json"], env=env, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert [p["slug"] for p in json.loads(done.stdout)] == ["genomics"]
    env["TALLER_TOKEN"] = "tlr_nope"
    done = subprocess.run([*command, "projects"], env=env, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("taller: error: authentication failed")
    assert done.stderr.count("\n") == 1
    done = subprocess.run(
        [*command, "submit", "--memory", "lots"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
