"""`taller token`, `archive`, `approve`, `members`, `cap`, `preview` and `usage` end to end over
real HTTP against a live portal, with the personas' own tokens; every failure is one line."""

import csv
import io
import json

import pytest

from portal.accounts.actions import create_token
from portal.accounts.models import ApiToken
from portal.projects.models import Project
from portal.quotas.models import MemberCap, Quota
from tests.factories import ProjectFactory

from .test_cli_live import assert_one_error_line, taller


@pytest.fixture(autouse=True)
def _own_config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("TALLER_TOKEN", raising=False)


@pytest.fixture
def as_user(live_server, personas, monkeypatch):
    """``as_user("bob")`` points the CLI at the live portal with a fresh token of bob."""

    def use(who: str) -> str:
        key = create_token(getattr(personas, who), "cli")[1]
        monkeypatch.setenv("TALLER_URL", live_server.url)
        monkeypatch.setenv("TALLER_TOKEN", key)
        return key

    return use


def test_token_create_list_and_revoke(as_user, live_server, personas):
    as_user("bob")
    created = taller("token", "create", "laptop", "--expires", "2999-12-31", "--project", "genomics")
    assert created.exit_code == 0, created.stderr
    token = ApiToken.objects.get(name="laptop")
    assert token.project == personas.project and token.expires_at.year == 2999
    key = [line.strip() for line in created.stdout.splitlines() if line.strip().startswith("tlr_")][0]
    assert f"taller login --url {live_server.url} --token {key}" in created.stdout
    assert f"export MLFLOW_TRACKING_TOKEN={key}" in created.stdout

    listed = taller("token", "list")
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "NAME", "STARTS"]
    assert any("laptop" in line and "genomics" in line and "2999-12-31" in line for line in lines)
    assert key not in listed.stdout
    rows = json.loads(taller("token", "list", "--json").stdout)
    assert {row["name"] for row in rows} == {"cli", "laptop"}

    revoked = taller("token", "revoke", str(token.pk))
    assert revoked.exit_code == 0 and f"Token {token.pk} revoked." in revoked.stdout
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert_one_error_line(taller("token", "revoke", str(token.pk)), 1, "(HTTP 404)")


def test_token_errors_are_one_line(as_user, personas):
    as_user("charlie")
    assert_one_error_line(
        taller("token", "create", "x", "--project", "genomics"), 1, "project: No project you can see"
    )
    assert_one_error_line(taller("token", "create", "x", "--expires", "someday"), 2, "--expires")
    assert_one_error_line(taller("token", "create", "x", "--expires", "2001-01-01"), 1, "expires_at")


def test_a_scoped_token_cannot_make_tokens(live_server, personas, monkeypatch):
    monkeypatch.setenv("TALLER_URL", live_server.url)
    monkeypatch.setenv("TALLER_TOKEN", create_token(personas.bob, "scoped", scope=personas.project)[1])
    assert_one_error_line(taller("token", "list"), 1, "cannot manage tokens", "(HTTP 403)")


def test_archive_asks_and_archives_for_owners_only(as_user, personas):
    as_user("bob")
    assert_one_error_line(taller("archive", "genomics", "--yes"), 1, "(HTTP 403)")
    as_user("alice")
    assert_one_error_line(taller("archive", "genomics", input="n\n"), 1, "aborted")
    assert Project.objects.get(slug="genomics").status == "active"
    result = taller("archive", "genomics", input="y\n")
    assert result.exit_code == 0, result.stderr
    assert "Project genomics archived." in result.stdout
    assert Project.objects.get(slug="genomics").status == "archived"


def test_approve_with_a_quota(as_user, personas):
    ProjectFactory(slug="astro", name="Astro", status=Project.Status.PENDING, requested_by=personas.alice)
    as_user("alice")
    assert_one_error_line(taller("approve", "astro"), 1, "(HTTP 404)")
    as_user("root")
    assert_one_error_line(taller("approve", "astro", "--gpus", "-1"), 2, "--gpus")
    result = taller("approve", "astro", "--reason", "welcome", "--gpus", "3", "--memory", "64Gi")
    assert result.exit_code == 0, result.stderr
    quota = Quota.objects.get(project__slug="astro")
    assert (quota.max_gpus, quota.max_memory_mib) == (3, 65536)
    assert Project.objects.get(slug="astro").status == "active"


def test_members_and_caps(as_user, personas):
    as_user("alice")
    result = taller("cap", "genomics", "bob", "--gpus", "1")
    assert result.exit_code == 0, result.stderr
    assert MemberCap.objects.get().max_gpus == 1
    listed = taller("members", "genomics").stdout.splitlines()
    assert listed[0].split() == ["USERNAME", "ROLE", "MAX", "GPUS", "MAX", "RUNNING", "JOBS"]
    assert listed[2].split() == ["bob", "member", "1", "-"]
    assert "bob has no cap in genomics." in taller("cap", "genomics", "bob").stdout
    assert not MemberCap.objects.exists()
    as_user("bob")
    assert_one_error_line(taller("cap", "genomics", "vera", "--jobs", "1"), 1, "(HTTP 403)")


def test_preview(as_user, personas):
    as_user("bob")
    result = taller("preview", "-p", "genomics", "--cpu", "1", "--memory", "1Gi", "--time", "1h", "--json")
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["outcome"] == "starts" and answer["cpu_hours"] == "1.00"
    rejected = json.loads(taller("preview", "-p", "genomics", "--gpus", "99", "--json").stdout)
    assert rejected["outcome"] == "rejected" and "gpus" in rejected["errors"]
    as_user("vera")
    assert_one_error_line(taller("preview", "-p", "genomics"), 1, "(HTTP 403)")


def test_usage_table_json_and_csv_for_site_admins(as_user, personas):
    as_user("bob")
    assert_one_error_line(taller("usage"), 1, "Only site admins", "(HTTP 403)")
    assert_one_error_line(taller("usage", "--csv"), 1, "Only site admins", "(HTTP 403)")
    as_user("root")
    table = taller("usage", "--period", "2026-11")
    assert table.exit_code == 0, table.stderr
    assert table.stdout.splitlines()[1].split()[:2] == ["genomics", "active"]
    rows = list(csv.DictReader(io.StringIO(taller("usage", "--period", "2026-11", "--csv").stdout)))
    assert [(row["project"], row["period"]) for row in rows] == [("genomics", "2026-11")]
    assert_one_error_line(taller("usage", "--period", "someday"), 1, "period:")
