"""`taller audit`: read the audit log, a project's (owners) or the whole of it (site admins),
as a table, JSON or the portal's CSV export."""

import re
import sys
from datetime import UTC, datetime, timedelta

import click

from . import output
from .base import TallerError, api, cli, json_option

KINDS = ["project", "member", "quota", "job", "pipeline", "schedule", "webhook", "notification", "token",
         "model", "deployment", "other"]  # fmt: skip
AGO = re.compile(r"^(\d+)([mhdw])$")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def when(value: str | None, now: datetime | None = None) -> str | None:
    """An ISO 8601 date or time as given, or a time ago (``30m``, ``12h``, ``7d``, ``2w``) as the
    ISO time it stands for."""
    if value is None:
        return None
    if match := AGO.match(value.strip()):
        ago = timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
        return ((now or datetime.now(UTC)) - ago).isoformat(timespec="seconds")
    try:
        datetime.fromisoformat(value.strip())
    except ValueError:
        raise TallerError(
            f"--since/--until: {value!r} is neither an ISO 8601 date or time nor a time ago such as 7d"
        ) from None
    return value.strip()


@cli.command()
@click.option("--project", "-p", help="Slug of a project you own; the whole log (site admins) if absent.")
@click.option("--since", help="From this ISO 8601 date or time, or a time ago: 30m, 12h, 7d, 2w.")
@click.option("--until", help="Before this ISO 8601 time (a date alone includes that day), or a time ago.")
@click.option("--actor", help="Only changes by this username.")
@click.option("--kind", type=click.Choice(KINDS), help="Only changes of this kind.")
@click.option("--action", help="Only this action, e.g. job.cancel.")
@click.option("--target", help="Only objects whose name contains this, e.g. 'job 42'.")
@click.option("--limit", type=click.IntRange(min=1), default=200, show_default=True,
              help="At most this many events (the table and JSON; the CSV has them all).")  # fmt: skip
@click.option("--csv", "as_csv", is_flag=True, help="Print the CSV export (every matching event).")
@json_option
def audit(
    project, since, until, actor, kind, action, target, limit: int, as_csv: bool, as_json: bool
) -> None:
    """Who changed what, and when: newest first."""
    params = {"since": when(since), "until": when(until), "actor": actor, "kind": kind, "action": action,
              "target": target}  # fmt: skip
    params = {key: value for key, value in params.items() if value}
    base = f"projects/{project}/audit/" if project else "audit/"
    client = api()
    if as_csv:
        for chunk in client.download(f"{base}export.csv", **params):
            sys.stdout.write(chunk)
        return None
    rows = client.pages(base, limit=limit, page_size=min(limit, 500), **params)
    if as_json:
        return output.emit_json(rows)
    headers = ["time", "project", "actor", "action", "target", "details"]
    click.echo(
        output.table(
            headers,
            [
                [
                    r["at"],
                    r["project"] or "-",
                    r["actor"] or "(portal)",
                    r["action"],
                    r["target"] or "-",
                    r["message"],
                ]
                for r in rows
            ],
        )  # fmt: skip
    )
