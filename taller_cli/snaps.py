"""`taller snapshot list|delete`: a project's code snapshots (what `taller submit --code DIR` and
`--git --with-changes` upload), each with how many jobs name it; one is deleted only when none
does (the portal answers 409 otherwise, and the command says so on one line). The packing and
upload are in ``snapshots``; this module's short name keeps main.py's import line in bounds."""

import click

from . import output
from .base import TallerError, api, cli, json_option

MAX_SNAPSHOTS = 1000


@cli.group()
def snapshot() -> None:
    """List and delete a project's code snapshots."""


@snapshot.command(name="list")
@click.option("--project", "-p", required=True, help="Slug of the project.")
@click.option("--limit", type=click.IntRange(min=1), default=MAX_SNAPSHOTS, show_default=True)
@json_option
def list_snapshots(project: str, limit: int, as_json: bool) -> None:
    """The project's snapshots, newest first, with the jobs that name each (--json: full digests)."""
    rows = api().pages(f"projects/{project}/snapshots/", limit=limit)
    if as_json:
        return output.emit_json(rows)
    click.echo(
        output.table(
            ["sha256", "size", "jobs", "uploaded by", "uploaded at"],
            [[r["digest"][:12], r["size"], r["jobs"], r["created_by"] or "-", r["created_at"]] for r in rows],
        )
    )


@snapshot.command(name="delete")
@click.option("--project", "-p", required=True, help="Slug of the project.")
@click.argument("digest")
def delete(project: str, digest: str) -> None:
    """Delete a snapshot no job names: its SHA-256, or a unique start of it (8 digits or more)."""
    digest = digest.strip().lower().removeprefix("sha256:")
    if len(digest) < 8 or any(ch not in "0123456789abcdef" for ch in digest):
        raise TallerError("give the snapshot's SHA-256, or at least its first 8 digits")
    client = api()
    if len(digest) < 64:
        found = [r["digest"] for r in client.pages(f"projects/{project}/snapshots/", limit=MAX_SNAPSHOTS)]
        matches = [full for full in found if full.startswith(digest)]
        if len(matches) != 1:
            problem = "no snapshot of" if not matches else "more than one snapshot of"
            raise TallerError(f"{problem} {project} starts with {digest}")
        digest = matches[0]
    client.request("DELETE", f"projects/{project}/snapshots/{digest}/")
    click.echo(f"snapshot {digest[:12]} deleted")
