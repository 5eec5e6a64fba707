"""`taller audit` end to end over real HTTP against a live portal: a project's log for its owner,
the whole log for a site admin, filters, JSON and CSV; every failure is one line."""

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from portal.accounts.actions import create_token
from portal.projects.actions import record
from taller_cli.audit import when

from .test_cli_live import assert_one_error_line, taller

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _own_config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("TALLER_TOKEN", raising=False)


@pytest.fixture
def as_user(live_server, personas, monkeypatch):
    """``as_user("bob")`` points the CLI at the live portal with a fresh token of bob."""

    def use(who: str) -> None:
        monkeypatch.setenv("TALLER_URL", live_server.url)
        monkeypatch.setenv("TALLER_TOKEN", create_token(getattr(personas, who), "cli")[1])

    return use


@pytest.fixture
def logged(personas):
    record(personas.bob, personas.project, "job.submit", "train", target="job 41")
    record(
        personas.alice, personas.project, "webhook.create", "chat to hooks.example.org", target="webhook 3"
    )
    record(personas.charlie, None, "token.create", "laptop", target="token abc")


def test_an_owner_reads_the_project_log_as_a_table_json_and_csv(as_user, logged):
    as_user("alice")
    table = taller("audit", "--project", "genomics")
    assert table.exit_code == 0, table.stderr
    assert "webhook.create" in table.stdout and "job 41" in table.stdout and "laptop" not in table.stdout
    rows = json.loads(taller("audit", "-p", "genomics", "--kind", "job", "--json").stdout)
    assert [(r["actor"], r["action"], r["target"]) for r in rows] == [("bob", "job.submit", "job 41")]
    since = taller("audit", "-p", "genomics", "--since", "1d", "--actor", "alice", "--csv")
    lines = list(csv.DictReader(io.StringIO(since.stdout)))
    assert [(line["actor"], line["action"]) for line in lines] == [("alice", "webhook.create")]
    assert taller("audit", "-p", "genomics", "--until", "2000-01-01", "--json").stdout.strip() == "[]"


def test_the_whole_log_is_for_site_admins(as_user, logged):
    as_user("alice")
    assert_one_error_line(taller("audit"), 1, "Only site admins", "(HTTP 403)")
    assert_one_error_line(taller("audit", "--csv"), 1, "Only site admins", "(HTTP 403)")
    as_user("bob")
    assert_one_error_line(taller("audit", "-p", "genomics"), 1, "owners", "(HTTP 403)")
    as_user("root")
    rows = json.loads(taller("audit", "--json").stdout)
    assert {"laptop", "train"} <= {r["message"] for r in rows}


def test_bad_input_is_one_line(as_user, logged):
    as_user("alice")
    assert_one_error_line(taller("audit", "-p", "genomics", "--since", "last week"), 1, "--since")
    assert_one_error_line(taller("audit", "-p", "nowhere"), 1, "(HTTP 404)")
    assert_one_error_line(taller("audit", "--kind", "weather"), 2, "weather")


def test_a_time_ago_is_the_iso_time_it_stands_for():
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert when("7d", now) == "2026-11-23T12:00:00+00:00"
    assert when("90m", now) == "2026-11-30T10:30:00+00:00"
    assert when("2026-11-01", now) == "2026-11-01"
