"""`taller token ...`: your API tokens (create with an expiry and a project scope, list, revoke)."""

from datetime import date, datetime

import click

from . import output
from .base import api, cli, converter, json_option


def parse_expiry(text: str) -> str:
    """'2026-12-31' (the token stops at the end of that day, UTC) or a full ISO 8601 moment."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        try:
            return datetime.fromisoformat(text).isoformat()
        except ValueError:
            raise ValueError(f"{text!r} is not a date (YYYY-MM-DD) or an ISO 8601 time") from None
    return f"{day.isoformat()}T23:59:59Z"


def _expiry(token: dict) -> str:
    if not token.get("expires_at"):
        return "never"
    return f"{token['expires_at']} (expired)" if token.get("expired") else token["expires_at"]


@cli.group()
def token() -> None:
    """Create, list and revoke your API tokens."""


@token.command(name="create")
@click.argument("name")
@click.option(
    "--expires",
    callback=converter(parse_expiry),
    help="Last day the token works (YYYY-MM-DD), or an ISO 8601 time.",
)
@click.option("--project", "-p", help="Slug of the one project the token may reach.")
@json_option
def create_token(name: str, expires: str | None, project: str | None, as_json: bool) -> None:
    """Create a token; its key is printed once, with ready-to-paste settings."""
    client = api()
    body = {"name": name}
    if expires:
        body["expires_at"] = expires
    if project:
        body["project"] = project
    created = client.post("tokens/", body)
    if as_json:
        return output.emit_json(created)
    key = created["key"]
    click.echo(f"Token {created['id']} “{created['name']}” created. Its key, shown this once:\n\n  {key}\n")
    click.echo(f"The taller command line:\n  taller login --url {client.url} --token {key}\n")
    click.echo(
        f"An MLflow client:\n  export MLFLOW_TRACKING_URI={client.url}/mlflow\n  export MLFLOW_TRACKING_TOKEN={key}"
    )


@token.command(name="list")
@json_option
def list_tokens(as_json: bool) -> None:
    """List your tokens (never their keys)."""
    rows = api().pages("tokens/", limit=10_000)
    if as_json:
        return output.emit_json(rows)
    click.echo(
        output.table(
            ["id", "name", "starts with", "project", "expires", "last used"],
            [
                [
                    t["id"],
                    t["name"],
                    t["prefix"],
                    t["project"] or "all",
                    _expiry(t),
                    t["last_used_at"] or "never",
                ]
                for t in rows
            ],
        )
    )


@token.command(name="revoke")
@click.argument("token_id", type=click.IntRange(min=1), metavar="ID")
def revoke_token(token_id: int) -> None:
    """Revoke a token: it stops working at once."""
    api().request("DELETE", f"tokens/{token_id}/")
    click.echo(f"Token {token_id} revoked.")
