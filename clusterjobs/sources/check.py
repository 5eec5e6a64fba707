"""A request's ``source`` checked: ``{"git": <address>, "ref": <branch, tag or commit>}`` (or
``{"snapshot": <SHA-256>}``, a code snapshot the project uploaded, or both: a commit with a
snapshot of the checkout's uncommitted changes on top, which replaces its tree), stored
as asked plus the commit the ref named at submission (``"commit"``), so that a re-run gets the same
code. A source that already names its commit (a re-run, a copied job) is not resolved again; a
new one costs one ``git ls-remote``. ``{}``: no source (the image's own code, or on the local
executor the portal's folder).

A git source may name DVC targets (``"dvc": ["data/train.csv", ...]``): the project must have a DVC
remote, and the commit must track each target; what the commit pins for them is read from it
(``data.read_pins``: one shallow fetch) and stored as ``"data"`` (never taken from the request:
a re-run reads it again from the same commit, and gets the same)."""

from django.utils.translation import gettext as _

from .remote import COMMIT, SourceError, ref_error, resolve, url_error

KEYS = {"git", "ref", "commit", "snapshot", "dvc"}


def project_credential(project):
    """The project's git credential, or None."""
    from .models import SourceCredential

    row = SourceCredential.objects.filter(project=project).first()
    return row.credential() if row else None


def check_source(project, raw: object, errors: dict) -> dict:
    """The checked source of ``raw`` (an error under "source" in ``errors`` otherwise)."""
    if raw in (None, {}):
        return {}
    dvc = None
    if isinstance(raw, dict):
        raw = {key: value for key, value in raw.items() if key != "data"}  # read again, never taken
        dvc = raw.pop("dvc", None)
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        errors["source"] = _('Give the source as {"git": address, "ref": branch, tag or commit}.')
        return {}
    if unknown := sorted(set(raw) - KEYS):
        errors["source"] = _("Unknown source fields: %(names)s.") % {"names": ", ".join(unknown)}
        return {}
    if dvc and "git" not in raw:
        errors["source"] = _("DVC targets need a git source: the commit pins their versions.")
        return {}
    snapshot = _snapshot(project, raw, errors) if "snapshot" in raw else {}
    if "source" in errors or set(raw) == {"snapshot"}:
        return {} if "source" in errors else snapshot
    url, ref, commit = raw.get("git", "").strip(), raw.get("ref", "").strip(), raw.get("commit", "").strip()
    if not url:
        errors["source"] = _("Give the repository's address under “git”.")
        return {}
    ref = ref or commit or "HEAD"
    if message := ref_error(ref):
        errors["source"] = message
        return {}
    if commit:
        if message := url_error(url):
            errors["source"] = message
            return {}
        if not COMMIT.fullmatch(commit):
            errors["source"] = _("A commit is a full 40-character commit id.")
            return {}
    else:
        try:
            commit = resolve(url, ref, project_credential(project))  # checks the address first
        except SourceError as error:
            errors["source"] = str(error)
            return {}
    source = {"git": url, "ref": ref, "commit": commit, **snapshot}
    if dvc in (None, []):
        return source
    return _dvc(project, source, dvc, errors)


def _dvc(project, source: dict, dvc: object, errors: dict) -> dict:
    from .data import MAX_TARGETS, clean_target, read_pins, target_error
    from .remotes import project_remote

    if not isinstance(dvc, list) or not dvc:
        errors["source"] = _('Give the DVC targets as a list of paths: "dvc": ["data/train.csv"].')
        return {}
    if len(dvc) > MAX_TARGETS:
        errors["source"] = _("At most %(n)s DVC targets.") % {"n": MAX_TARGETS}
        return {}
    if message := next(filter(None, map(target_error, dvc)), None):
        errors["source"] = message
        return {}
    if project_remote(project) is None:
        errors["source"] = _(
            "The project has no DVC remote: its owners set one on the project's DVC remote page."
        )
        return {}
    targets = list(dict.fromkeys(clean_target(target) for target in dvc))
    try:
        pins = read_pins(source["git"], source["commit"], targets, project_credential(project))
    except SourceError as error:
        errors["source"] = str(error)
        return {}
    return {**source, "dvc": targets, "data": pins}


def _snapshot(project, raw: dict, errors: dict) -> dict[str, str]:
    from .snapshots import snapshot_source_error

    digest = raw["snapshot"].strip().removeprefix("sha256:")
    if message := snapshot_source_error(project, digest):
        errors["source"] = message
    return {} if "source" in errors else {"snapshot": digest}
