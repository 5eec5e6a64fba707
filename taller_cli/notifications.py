"""`taller notifications show|set`: your own notification choice in a project (when one of your
jobs or pipeline runs ends, fails, or waits longer than some minutes); `taller webhook
list|add|delete|test|deliveries`: a project's webhooks (its owners only: the portal refuses others)."""

import click

from . import output
from .base import api, cli, json_option

MAX_DELIVERIES = 1000
project_option = click.option("--project", "-p", required=True, help="Slug of the project.")


def _choice_fields(row: dict) -> str:
    wait = row.get("wait_minutes")
    return output.fields(
        [
            ("when one ends", "yes" if row["on_end"] else "no"),
            ("when one fails", "yes" if row["on_failure"] else "no"),
            ("when one waits longer than", f"{wait} min" if wait else "never"),
        ]
    )


@cli.group()
def notifications() -> None:
    """Your notifications in a project: show, set."""


@notifications.command(name="show")
@project_option
@json_option
def show_choice(project: str, as_json: bool) -> None:
    """What you are told about your jobs and pipeline runs in PROJECT."""
    row = api().get(f"projects/{project}/notifications/")
    output.emit_json(row) if as_json else click.echo(_choice_fields(row))


@notifications.command(name="set")
@project_option
@click.option("--on-end/--no-on-end", default=None, help="Email me when one of mine ends.")
@click.option("--on-failure/--no-on-failure", default=None, help="Email me when one of mine fails.")
@click.option("--wait-minutes", type=click.IntRange(min=1), default=None,
              help="Tell me (email and the project's webhooks), once, when one waits longer than this.")  # fmt: skip
@click.option("--no-wait", is_flag=True, help="Stop telling me about waits.")
@json_option
def set_choice(
    project: str, on_end: bool | None, on_failure: bool | None, wait_minutes: int | None, no_wait: bool,
    as_json: bool,
) -> None:  # fmt: skip
    """Change what you are told in PROJECT; options left out keep their value."""
    if no_wait and wait_minutes is not None:
        raise click.UsageError("give --wait-minutes or --no-wait, not both")
    client = api()
    body = client.get(f"projects/{project}/notifications/")
    changes = {"on_end": on_end, "on_failure": on_failure, "wait_minutes": wait_minutes}
    body.update({key: value for key, value in changes.items() if value is not None})
    if no_wait:
        body["wait_minutes"] = None
    row = client.request("PUT", f"projects/{project}/notifications/", json=body)
    output.emit_json(row) if as_json else click.echo(_choice_fields(row))


@cli.group()
def webhook() -> None:
    """A project's webhooks (owners): list, add, delete, test, deliveries."""


def _deliveries_table(rows: list[dict]) -> str:
    return output.table(
        ["id", "created", "status", "attempts", "subject", "last error"],
        [[d["id"], d["created_at"], d["status"], d["attempts"], d["subject"], d["last_error"]] for d in rows],
    )


@webhook.command(name="list")
@project_option
@json_option
def list_webhooks(project: str, as_json: bool) -> None:
    """PROJECT's webhooks with their latest delivery."""
    rows = api().get(f"projects/{project}/webhooks/")
    if as_json:
        return output.emit_json(rows)
    click.echo(
        output.table(
            ["id", "kind", "only failures", "url", "last delivery"],
            [
                [
                    w["id"],
                    w["kind"],
                    "yes" if w["only_failures"] else "no",
                    w["url"],
                    f"{w['deliveries'][0]['status']} {w['deliveries'][0]['created_at']}"
                    if w["deliveries"]
                    else "-",
                ]
                for w in rows
            ],
        )
    )


@webhook.command(name="add")
@project_option
@click.argument("url")
@click.option("--kind", type=click.Choice(["chat", "signed"]), default="chat", show_default=True,
              help='chat: {"text": ...} for Slack, Mattermost, Teams; signed: JSON signed with HMAC-SHA256.')  # fmt: skip
@click.option("--only-failures", is_flag=True, help="Call it only when something failed.")
@json_option
def add(project: str, url: str, kind: str, only_failures: bool, as_json: bool) -> None:
    """Call URL (https, a public address) about PROJECT's jobs and pipeline runs."""
    row = api().post(
        f"projects/{project}/webhooks/", {"url": url, "kind": kind, "only_failures": only_failures}
    )
    if as_json:
        return output.emit_json(row)
    click.echo(f"webhook {row['id']} added: {row['url']}")
    if row.get("secret"):
        click.echo(f"signing secret (shown once, check X-Taller-Signature with it): {row['secret']}")


@webhook.command(name="delete")
@project_option
@click.argument("webhook_id", type=int)
def delete(project: str, webhook_id: int) -> None:
    """Delete a webhook and its deliveries."""
    api().request("DELETE", f"projects/{project}/webhooks/{webhook_id}/")
    click.echo(f"webhook {webhook_id} deleted")


@webhook.command(name="test")
@project_option
@click.argument("webhook_id", type=int)
def test(project: str, webhook_id: int) -> None:
    """Send a test notification; see its outcome with `taller webhook deliveries`."""
    row = api().post(f"projects/{project}/webhooks/{webhook_id}/test/")
    click.echo(f"test delivery {row['id']} queued ({row['status']})")


@webhook.command(name="deliveries")
@project_option
@click.argument("webhook_id", type=int)
@click.option("--limit", type=click.IntRange(1, MAX_DELIVERIES), default=20, show_default=True,
              help="How many, newest first.")  # fmt: skip
@json_option
def deliveries(project: str, webhook_id: int, limit: int, as_json: bool) -> None:
    """A webhook's latest deliveries and their outcome."""
    rows = api().pages(f"projects/{project}/webhooks/{webhook_id}/deliveries/", limit=limit)
    output.emit_json(rows) if as_json else click.echo(_deliveries_table(rows))
