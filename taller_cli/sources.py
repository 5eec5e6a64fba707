"""Where a submitted job's code comes from: `--git-url URL --ref REF`, or `--git` (the checkout
the command runs in: its remote's address and its HEAD, which the remote must have; with
`--with-changes`, its uncommitted changes too, as a snapshot of its working tree that replaces the
commit's tree in the job, so the job runs exactly the files of the checkout); with either,
`--dvc TARGET` names the DVC data it pulls first."""

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from . import snapshots
from .client import api


class SourceError(Exception):
    """A source the command line refuses before asking the portal (one line for people)."""


def source_options(command: Callable) -> Callable:
    options = [
        click.option("--git-url", help="Run a checkout of this repository (https:// or ssh://)."),
        click.option("--ref", help="Branch, tag or commit of --git-url (default: its HEAD)."),
        click.option(
            "--git",
            "from_checkout",
            is_flag=True,
            help="Run this folder's git checkout: its remote and its HEAD commit (pushed, no uncommitted changes).",
        ),
        click.option(
            "--with-changes",
            is_flag=True,
            help="With --git: send the uncommitted changes (and untracked files .gitignore keeps) "
            "as a snapshot on top of the commit.",
        ),
        click.option("--remote", default="origin", show_default=True, help="The remote --git uses."),
        click.option(
            "--dvc",
            "dvc",
            multiple=True,
            help="A DVC target of the git source (repeatable): its version at the commit is pulled first.",
        ),
        click.option(
            "--code",
            type=click.Path(exists=True, file_okay=False),
            help="Run a snapshot of this folder (.gitignore honoured), uploaded once.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _git(*args: str, cwd: str | None = None) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SourceError(f"could not run git: {error}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["git failed"])[-1]
        raise SourceError(last)
    return done.stdout.strip()


def checkout_source(
    remote: str = "origin", cwd: str | None = None, *, with_changes: bool = False
) -> dict[str, str]:
    """The source of the checkout at ``cwd``: refused with uncommitted changes (unless
    ``with_changes``: the caller sends them), or when its HEAD is on none of the remote's branches
    or tags (push it first)."""
    _git("rev-parse", "--is-inside-work-tree", cwd=cwd)
    if not with_changes and _git("status", "--porcelain", "--untracked-files=no", cwd=cwd):
        raise SourceError(
            "the checkout has uncommitted changes: commit and push them first, or send them with --with-changes"
        )
    url = _git("remote", "get-url", remote, cwd=cwd)
    head = _git("rev-parse", "HEAD", cwd=cwd)
    branch = _git("rev-parse", "--abbrev-ref", "HEAD", cwd=cwd)
    tips = {line.split("\t")[0] for line in _git("ls-remote", remote, cwd=cwd).splitlines() if "\t" in line}
    for tip in tips:
        if tip == head:
            break
        known = subprocess.run(["git", "cat-file", "-e", f"{tip}^{{commit}}"], cwd=cwd, capture_output=True)
        ancestor = subprocess.run(
            ["git", "merge-base", "--is-ancestor", head, tip], cwd=cwd, capture_output=True
        )
        if known.returncode == 0 and ancestor.returncode == 0:
            break
    else:
        raise SourceError(f"commit {head[:12]} is not on {remote} ({url}): push it first")
    return {"git": url, "ref": head if branch == "HEAD" else branch, "commit": head}


def changes_snapshot(cwd: str | None = None) -> bytes | None:
    """The checkout's working tree packed (tracked files as they are, untracked ones .gitignore
    keeps), or None when it has nothing uncommitted or untracked: the commit alone is then exact."""
    if not _git("status", "--porcelain", "--untracked-files=normal", cwd=cwd):
        return None
    root = Path(_git("rev-parse", "--show-toplevel", cwd=cwd))
    return snapshots.pack(str(root), snapshots.checkout_files(root))


def source_body(
    project: str,
    *,
    git_url: str | None,
    ref: str | None,
    from_checkout: bool,
    remote: str,
    code: str | None,
    with_changes: bool = False,
    dvc: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The `source` part of the job's body ({} without a source)."""
    if sum(map(bool, (from_checkout, git_url, code))) > 1:
        raise click.UsageError("give one of --git, --git-url and --code")
    if with_changes and not from_checkout:
        raise click.UsageError("--with-changes needs --git")
    if dvc and not (from_checkout or git_url):
        raise click.UsageError("--dvc needs a git source: --git or --git-url")
    body = _source_body(
        project,
        git_url=git_url,
        ref=ref,
        from_checkout=from_checkout,
        remote=remote,
        code=code,
        with_changes=with_changes,
    )
    if dvc:
        body["source"]["dvc"] = list(dvc)
    return body


def _source_body(
    project: str,
    *,
    git_url: str | None,
    ref: str | None,
    from_checkout: bool,
    remote: str,
    code: str | None,
    with_changes: bool,
) -> dict[str, Any]:
    if code:
        try:
            digest, sent = snapshots.upload(api(), project, code)
        except snapshots.PackError as error:
            raise click.ClickException(f"--code: {error}") from None
        click.echo(f"Snapshot {digest[:12]} {'uploaded' if sent else 'already uploaded'}.", err=True)
        return {"source": {"snapshot": digest}}
    if ref and not git_url:
        raise click.UsageError("--ref needs --git-url")
    if from_checkout:
        try:
            source = checkout_source(remote, with_changes=with_changes)
            data = changes_snapshot() if with_changes else None
        except (SourceError, snapshots.PackError) as error:
            raise click.ClickException(f"--git: {error}") from None
        if data is not None:
            digest, sent = snapshots.upload(api(), project, "", data=data)
            state = "uploaded" if sent else "already uploaded"
            click.echo(f"Uncommitted changes: snapshot {digest[:12]} {state}.", err=True)
            source["snapshot"] = digest
        return {"source": source}
    if git_url:
        return {"source": {"git": git_url, **({"ref": ref} if ref else {})}}
    return {}
