"""`taller notifications ...` and `taller webhook ...` over real HTTP against a live portal: your
own choice (ends, fails, waits longer than N minutes), a project's webhooks for its owners (add,
list, test, deliveries, delete), and refusals as one line on stderr with exit status 1."""

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner

from pipelines.models import Delivery, NotificationChoice, Webhook
from portal.accounts.actions import create_token
from taller_cli.main import cli


@pytest.fixture
def as_user(live_server, personas, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("TALLER_URL", live_server.url)

    def login(user) -> None:
        monkeypatch.setenv("TALLER_TOKEN", create_token(user, "cli")[1])

    return login


def taller(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_show_and_set_your_own_choice(personas, as_user):
    as_user(personas.bob)
    shown = taller("notifications", "show", "-p", "genomics")
    assert shown.exit_code == 0, shown.stderr
    lines = [line.split() for line in shown.stdout.splitlines()]
    assert lines[1][-1] == "yes" and lines[2][-1] == "never"  # fails: yes (the default); waits: never
    changed = taller("notifications", "set", "-p", "genomics", "--on-end", "--wait-minutes", "45", "--json")
    assert changed.exit_code == 0, changed.stderr
    assert json.loads(changed.stdout) == {"on_end": True, "on_failure": True, "wait_minutes": 45}
    choice = NotificationChoice.objects.get(user=personas.bob)
    assert choice.wait_longer_than == timedelta(minutes=45)
    kept = taller("notifications", "set", "-p", "genomics", "--no-on-failure")  # the rest kept
    assert kept.exit_code == 0, kept.stderr
    assert "45 min" in kept.stdout
    assert taller("notifications", "set", "-p", "genomics", "--no-wait").exit_code == 0
    choice.refresh_from_db()
    assert (choice.on_end, choice.on_failure, choice.wait_longer_than) == (True, False, None)


def test_bad_choices_are_refused(personas, as_user):
    as_user(personas.charlie)
    outsider = taller("notifications", "set", "-p", "genomics", "--on-end")
    assert outsider.exit_code == 1 and len(outsider.stderr.strip().splitlines()) == 1
    as_user(personas.bob)
    too_long = taller("notifications", "set", "-p", "genomics", "--wait-minutes", "20000")
    assert too_long.exit_code == 1 and "wait_minutes" in too_long.stderr
    assert len(too_long.stderr.strip().splitlines()) == 1
    zero = taller("notifications", "set", "-p", "genomics", "--wait-minutes", "0")
    assert zero.exit_code == 2
    both = taller("notifications", "set", "-p", "genomics", "--wait-minutes", "5", "--no-wait")
    assert both.exit_code == 2
    assert not NotificationChoice.objects.exists()


def test_owners_manage_webhooks(personas, as_user):
    as_user(personas.alice)
    added = taller("webhook", "add", "-p", "genomics", "https://8.8.8.8/hook", "--kind", "signed")
    assert added.exit_code == 0, added.stderr
    webhook = Webhook.objects.get()
    assert added.stdout.splitlines() == [
        f"webhook {webhook.pk} added: https://8.8.8.8/hook",
        f"signing secret (shown once, check X-Taller-Signature with it): {webhook.secret}",
    ]
    tested = taller("webhook", "test", "-p", "genomics", str(webhook.pk))
    assert tested.exit_code == 0, tested.stderr
    delivery = Delivery.objects.get()
    assert tested.stdout.strip() == f"test delivery {delivery.pk} queued (pending)"
    Delivery.objects.filter(pk=delivery.pk).update(status="failed", attempts=5, last_error="HTTP 500")
    listed = taller("webhook", "list", "-p", "genomics")
    assert listed.exit_code == 0, listed.stderr
    assert listed.stdout.splitlines()[1].split()[:5] == [
        str(webhook.pk),
        "signed",
        "no",
        "https://8.8.8.8/hook",
        "failed",
    ]
    shown = taller("webhook", "deliveries", "-p", "genomics", str(webhook.pk), "--json")
    assert shown.exit_code == 0, shown.stderr
    (row,) = json.loads(shown.stdout)
    assert (row["status"], row["attempts"], row["last_error"]) == ("failed", 5, "HTTP 500")
    deleted = taller("webhook", "delete", "-p", "genomics", str(webhook.pk))
    assert deleted.exit_code == 0 and deleted.stdout.strip() == f"webhook {webhook.pk} deleted"
    assert not Webhook.objects.exists()


def test_webhook_refusals(personas, as_user):
    as_user(personas.alice)
    private = taller("webhook", "add", "-p", "genomics", "https://127.0.0.1/hook")
    assert private.exit_code == 1 and "does not call it" in private.stderr
    assert len(private.stderr.strip().splitlines()) == 1
    plain = taller("webhook", "add", "-p", "genomics", "http://8.8.8.8/hook")
    assert plain.exit_code == 1 and "https only" in plain.stderr
    webhook = Webhook.objects.create(
        project=personas.project, url="https://8.8.8.8/h", created_by=personas.alice
    )
    as_user(personas.bob)  # a member, not an owner
    for args in (["list"], ["add", "https://8.8.8.8/x"], ["test", str(webhook.pk)],
                 ["deliveries", str(webhook.pk)], ["delete", str(webhook.pk)]):  # fmt: skip
        refused = taller("webhook", args[0], "-p", "genomics", *args[1:])
        assert refused.exit_code == 1 and "owners" in refused.stderr, args
    assert list(Webhook.objects.values_list("url", flat=True)) == ["https://8.8.8.8/h"]
    assert not Delivery.objects.exists()
