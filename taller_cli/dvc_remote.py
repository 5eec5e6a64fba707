"""`taller dvc-remote ...`: where a project's DVC data are, which its jobs pull (owners set and
clear it; anyone in the project sees where it is, never its key pair). The secret access key is
read from standard input, never from the command line, where other users of the machine see it."""

import sys

import click

from . import output
from .base import TallerError, api, cli, json_option


def _path(project: str) -> str:
    return f"projects/{project}/dvc-remote/"


def _line(project: str, state: dict) -> str:
    if not state.get("set"):
        return f"{project} has no DVC remote."
    endpoint = f" at {state['endpoint_url']}" if state.get("endpoint_url") else ""
    keys = ", with a key pair" if state.get("has_credential") else ""
    return (
        f"{project} pulls DVC data from {state.get('url')}{endpoint} ({state.get('kind')}{keys}), "
        f"set by {state.get('set_by')} at {state.get('set_at')}."
    )


@cli.group(name="dvc-remote")
def dvc_remote() -> None:
    """Show, set and clear a project's DVC remote (an S3-compatible bucket or a shared folder)."""


@dvc_remote.command(name="show")
@click.option("--project", "-p", required=True, help="Slug of the project.")
@json_option
def show(project: str, as_json: bool) -> None:
    """Where the project's DVC data are (never its key pair)."""
    state = api().get(_path(project))
    return output.emit_json(state) if as_json else click.echo(_line(project, state))


@dvc_remote.command(name="set")
@click.option("--project", "-p", required=True, help="Slug of the project.")
@click.option(
    "--kind",
    type=click.Choice(["s3", "shared", "local"]),
    default="s3",
    show_default=True,
    help="s3: a bucket; shared: a folder on a shared volume; local: the portal's own folder (embedded default).",
)
@click.option("--url", default="", help="s3://bucket/prefix, or the shared folder's absolute path.")
@click.option("--endpoint-url", default="", help="The S3-compatible server's address (empty for AWS).")
@click.option("--access-key-id", default="", help="The bucket's access key id.")
@click.option(
    "--secret-access-key-stdin", is_flag=True, help="Read the bucket's secret access key from standard input."
)
@json_option
def set_remote(
    project: str,
    kind: str,
    url: str,
    endpoint_url: str,
    access_key_id: str,
    secret_access_key_stdin: bool,
    as_json: bool,
) -> None:
    """Set (replace) the project's DVC remote; owners only."""
    body = {"kind": kind, "url": url, "endpoint_url": endpoint_url, "access_key_id": access_key_id}
    if secret_access_key_stdin:
        body["secret_access_key"] = sys.stdin.read().strip()
        if not body["secret_access_key"]:
            raise TallerError("no secret access key on standard input")
    state = api().request("PUT", _path(project), json=body)
    return output.emit_json(state) if as_json else click.echo(_line(project, state))


@dvc_remote.command(name="clear")
@click.option("--project", "-p", required=True, help="Slug of the project.")
def clear(project: str) -> None:
    """Remove the project's DVC remote; owners only."""
    api().request("DELETE", _path(project))
    click.echo(f"{project} has no DVC remote now.")
