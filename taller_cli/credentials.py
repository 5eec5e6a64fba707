"""`taller git-credential ...`: a project's git credential, which its jobs clone private
repositories with (owners set and remove it; nobody reads it back). The secret is read from
standard input or a file, never from the command line, where other users of the machine see it."""

import sys
from pathlib import Path

import click

from . import output
from .base import TallerError, api, cli, json_option


def _path(project: str) -> str:
    return f"projects/{project}/git-credential/"


def _line(project: str, state: dict) -> str:
    if not state.get("set"):
        return f"{project} has no git credential."
    user = f" for user {state['username']}" if state.get("username") else ""
    return f"{project} has a git {state.get('kind')}{user}, set by {state.get('set_by')} at {state.get('set_at')}."


@cli.group(name="git-credential")
def git_credential() -> None:
    """Show, set and remove a project's git credential (a deploy token or key)."""


@git_credential.command(name="show")
@click.option("--project", "-p", required=True, help="Slug of the project.")
@json_option
def show(project: str, as_json: bool) -> None:
    """Whether the project has one, and who set it (never its value)."""
    state = api().get(_path(project))
    return output.emit_json(state) if as_json else click.echo(_line(project, state))


@git_credential.command(name="set")
@click.option("--project", "-p", required=True, help="Slug of the project.")
@click.option("--username", default="", help="User name of the token, if the forge needs one.")
@click.option("--token-stdin", is_flag=True, help="Read a deploy token (https) from standard input.")
@click.option(
    "--ssh-key-file", type=click.Path(exists=True, dir_okay=False), help="A deploy key's private key file."
)
def set_credential(project: str, username: str, token_stdin: bool, ssh_key_file: str | None) -> None:
    """Set (replace) the project's credential; owners only."""
    if token_stdin == bool(ssh_key_file):
        raise click.UsageError("give --token-stdin or --ssh-key-file")
    body = {"username": username}
    if token_stdin:
        body["token"] = sys.stdin.read().strip()
        if not body["token"]:
            raise TallerError("no token on standard input")
    else:
        body["ssh_key"] = Path(ssh_key_file).read_text()
    click.echo(_line(project, api().request("PUT", _path(project), json=body)))


@git_credential.command(name="remove")
@click.option("--project", "-p", required=True, help="Slug of the project.")
def remove(project: str) -> None:
    """Remove the project's credential; owners only."""
    api().request("DELETE", _path(project))
    click.echo(f"{project} has no git credential now.")
