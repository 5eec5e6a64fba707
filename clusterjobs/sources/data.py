"""A job's DVC targets read from its commit at submission: which files the commit's ``.dvc`` files
and ``dvc.lock`` pin for them, with their md5 and size, stored with the job (``source["data"]``)
and recorded on its run as MLflow dataset inputs (``record``). The job's "pull" step (``pull``)
then fetches exactly these versions: the same files, in its checkout of the same commit.

The portal reads the commit itself, without the cluster: one shallow ``git fetch`` of that commit
into a temporary bare repository (everything on the branches and tags when the server does not
give a commit by its id), bounded by TALLER_GIT_TIMEOUT_SECONDS, then ``git ls-tree`` and
``git cat-file`` there.

A target is what ``dvc pull`` takes: a ``.dvc`` file, the path it tracks (``data/train.csv`` for
``data/train.csv.dvc``), a file inside a tracked folder (its folder is pinned), an output of a
stage in a ``dvc.lock`` (or a file inside one), or the name of a stage in the top ``dvc.lock``.
"""

import posixpath
import subprocess
import tempfile
from pathlib import Path

import yaml
from django.conf import settings
from django.utils.translation import gettext as _

from .remote import Credential, SourceError, _credential_args, _explain, git_env

MAX_TARGETS = 50
MAX_TARGET = 500
MAX_DVC_FILE = 1024 * 1024  # bytes of one .dvc file or dvc.lock read
LOCK = "dvc.lock"
MAX_LOCKS = 50  # dvc.lock files of a commit looked through for a target


def target_error(target: object) -> str | None:
    """Why ``target`` cannot be a DVC target (a path in the repository), or None."""
    if not isinstance(target, str) or not target.strip() or len(target) > MAX_TARGET:
        return _("A DVC target is a path in the repository, e.g. data/train.csv.")
    path = target.strip()
    if path.startswith("/") or any(ord(ch) < 32 for ch in path) or ".." in path.split("/"):
        return _("A DVC target is a path inside the repository: %(target)s is not.") % {"target": path}
    if path.startswith("-"):
        return _("A DVC target is a path in the repository, e.g. data/train.csv.")
    return None


def clean_target(target: str) -> str:
    return posixpath.normpath(target.strip()).removeprefix("./")


class _Tree:
    """A commit's files, fetched into a temporary bare repository."""

    def __init__(self, folder: str, env: dict[str, str], commit: str) -> None:
        self.folder, self.env, self.commit = folder, env, commit
        listing = self._git("ls-tree", "-r", "--name-only", "-z", commit).stdout
        self.files = {name.decode() for name in listing.split(b"\0") if name}

    def _git(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["git", "-C", self.folder, *args],
            env=self.env,
            capture_output=True,
            timeout=settings.TALLER_GIT_TIMEOUT_SECONDS,
            stdin=subprocess.DEVNULL,
            check=True,
        )

    def yaml(self, path: str) -> dict:
        """A .dvc file or dvc.lock of the commit, parsed ({} when it is not usable)."""
        size = int(self._git("cat-file", "-s", f"{self.commit}:{path}").stdout or 0)
        if size > MAX_DVC_FILE:
            raise SourceError(_("%(path)s is too large to be a DVC file.") % {"path": path})
        text = self._git("cat-file", "blob", f"{self.commit}:{path}").stdout
        try:
            parsed = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise SourceError(
                _("%(path)s is not valid YAML: %(error)s") % {"path": path, "error": error}
            ) from error
        return parsed if isinstance(parsed, dict) else {}


def _pin(out: object, folder: str, file: str, target: str) -> dict:
    if not isinstance(out, dict) or not isinstance(out.get("path"), str):
        raise SourceError(_("%(file)s has an output without a path.") % {"file": file})
    path = posixpath.normpath(posixpath.join(folder, out["path"]))
    md5 = out.get("md5")
    if not isinstance(md5, str) or not md5:
        raise SourceError(
            _("%(path)s is not pinned by an md5 in %(file)s (pushed with dvc add or dvc repro?).")
            % {"path": path, "file": file}
        )
    pin = {"target": target, "path": path, "md5": md5, "size": out.get("size"), "file": file}
    # DVC 3 writes "hash: md5" and keeps objects under files/md5/ on a remote; DVC 2 did not.
    pin["layout"] = "files/md5" if out.get("hash") == "md5" else ""
    if isinstance(out.get("nfiles"), int):
        pin["nfiles"] = out["nfiles"]
    return pin


def _outs(tree: _Tree, file: str) -> list[tuple[dict, str]]:
    """Each output a .dvc file or dvc.lock pins, with the folder its path is relative to."""
    folder = posixpath.dirname(file)
    parsed = tree.yaml(file)
    if file.endswith(".dvc"):
        return [(out, folder) for out in parsed.get("outs") or []]
    stages = parsed.get("stages") or {}
    return [
        (out, folder)
        for stage in stages.values()
        if isinstance(stage, dict)
        for out in stage.get("outs") or []
    ]


def _covers(out: dict, folder: str, target: str) -> bool:
    path = posixpath.normpath(posixpath.join(folder, str(out.get("path", ""))))
    return target == path or target.startswith(path + "/")


def _pins_of(tree: _Tree, target: str) -> list[dict]:
    if target.endswith(".dvc") and target in tree.files:
        return [_pin(out, folder, target, target) for out, folder in _outs(tree, target)]
    # The target's own .dvc file, or one of a folder above it (a file inside a tracked folder).
    parts = target.split("/")
    for end in range(len(parts), 0, -1):
        file = "/".join(parts[:end]) + ".dvc"
        if file in tree.files:
            found = [(o, f) for o, f in _outs(tree, file) if isinstance(o, dict) and _covers(o, f, target)]
            if found:
                return [_pin(out, folder, file, target) for out, folder in found]
    locks = sorted(name for name in tree.files if posixpath.basename(name) == LOCK)[:MAX_LOCKS]
    for lock in locks:
        found = [(o, f) for o, f in _outs(tree, lock) if isinstance(o, dict) and _covers(o, f, target)]
        if found:
            return [_pin(out, folder, lock, target) for out, folder in found]
    if LOCK in tree.files and "/" not in target:
        stage = (tree.yaml(LOCK).get("stages") or {}).get(target)
        if isinstance(stage, dict) and stage.get("outs"):
            return [_pin(out, "", LOCK, target) for out in stage["outs"]]
    return []


def read_pins(url: str, commit: str, targets: list[str], credential: Credential | None = None) -> list[dict]:
    """The outputs the commit pins for ``targets``: [{target, path, md5, size, file, layout}], in
    the targets' order. Raises SourceError naming a target the commit does not track, or when the
    repository cannot be read within the time limit."""
    with tempfile.TemporaryDirectory(prefix="taller-dvc-") as home:
        env = git_env(credential, home)
        if credential and credential.ssh_key:
            key = Path(home) / "key"
            key.write_text(credential.ssh_key.rstrip("\n") + "\n")
            key.chmod(0o600)
            env["GIT_SSH_COMMAND"] += f" -i {key} -o IdentitiesOnly=yes"
        folder = str(Path(home) / "repo.git")
        # Only the commit's trees and its small files (a .dvc file or a dvc.lock is a few hundred
        # bytes), where the server filters: the repository's large files are not transferred.
        fetch = ["git", "-C", folder, *_credential_args(credential), "fetch", "-q", "--no-tags"]
        fetch += ["--filter=blob:limit=1m", "origin"]
        try:
            subprocess.run(["git", "init", "-q", "--bare", folder], env=env, check=True, capture_output=True)
            for name, value in (("remote.origin.url", url), ("extensions.partialClone", "origin")):
                subprocess.run(
                    ["git", "-C", folder, "config", name, value], env=env, check=True, capture_output=True
                )
            done = subprocess.run(
                [*fetch, "--depth", "1", commit],
                env=env,
                capture_output=True,
                text=True,
                timeout=settings.TALLER_GIT_TIMEOUT_SECONDS,
                stdin=subprocess.DEVNULL,
            )
            if done.returncode != 0:  # a server that gives only its branches' and tags' tips
                done = subprocess.run(
                    [*fetch, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=settings.TALLER_GIT_TIMEOUT_SECONDS,
                    stdin=subprocess.DEVNULL,
                )
            if done.returncode != 0:
                raise SourceError(_explain(done.stderr, url))
            # A file the filter left out (over 1 MiB: no DVC file) stays out: no fetch while reading.
            subprocess.run(
                ["git", "-C", folder, "config", "remote.origin.url", str(Path(home) / "none")],
                env=env,
                check=True,
                capture_output=True,
            )
            tree = _Tree(folder, env, commit)
            pins: list[dict] = []
            for target in targets:
                found = _pins_of(tree, target)
                if not found:
                    raise SourceError(
                        _(
                            "The DVC target %(target)s is not tracked at commit %(commit)s: no %(target)s.dvc, "
                            "and no output of a dvc.lock stage there."
                        )
                        % {"target": target, "commit": commit[:12]}
                    )
                pins += [
                    pin
                    for pin in found
                    if (pin["path"], pin["md5"]) not in {(p["path"], p["md5"]) for p in pins}
                ]
        except subprocess.TimeoutExpired as error:
            raise SourceError(
                _("The repository %(url)s did not answer within %(n)s seconds.")
                % {"url": url, "n": settings.TALLER_GIT_TIMEOUT_SECONDS}
            ) from error
        except subprocess.CalledProcessError as error:
            last = (error.stderr or b"").decode(errors="replace").strip().splitlines()
            raise SourceError(
                _("Commit %(commit)s could not be read from %(url)s: %(error)s")
                % {"commit": commit[:12], "url": url, "error": (last or ["git failed"])[-1][:300]}
            ) from error
    return pins


def remote_path(remote: str, pin: dict) -> str:
    """Where the pinned object lives on the DVC remote ``remote``: DVC 3 keeps it under
    ``files/md5/<first two>/<rest>``, DVC 2 under ``<first two>/<rest>``."""
    md5 = pin["md5"]
    parts = [remote.rstrip("/")] + ([pin["layout"]] if pin.get("layout") else []) + [md5[:2], md5[2:]]
    return "/".join(parts)
