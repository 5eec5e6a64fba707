"""A commit's page on the forge that hosts its repository, from the repository's address
(https or ssh), when the host is a forge whose commit addresses are known: GitHub, GitLab,
Gitea and Forgejo (Codeberg), Bitbucket. Any other host gets no link: a guessed one would be
wrong more often than right."""

import re
from urllib.parse import urlsplit

from ..sources.remote import COMMIT, SCP_LIKE

# How each forge names a commit's page below the repository's.
COMMIT_PATHS = {
    "github": "commit/{commit}",
    "gitlab": "-/commit/{commit}",
    "gitea": "commit/{commit}",
    "bitbucket": "commits/{commit}",
}
KNOWN_HOSTS = {
    "github.com": "github",
    "gitlab.com": "gitlab",
    "codeberg.org": "gitea",
    "gitea.com": "gitea",
    "bitbucket.org": "bitbucket",
}
# Self-hosted instances named after their software (gitlab.example.org, git.forgejo.example).
HOST_PREFIXES = (
    ("gitlab.", "gitlab"),
    ("gitea.", "gitea"),
    ("forgejo.", "gitea"),
    ("bitbucket.", "bitbucket"),
)
REPOSITORY_PATH = re.compile(r"[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)+")


def forge_of(host: str) -> str:
    """Which forge software ``host`` runs, or ''."""
    host = host.lower()
    if host in KNOWN_HOSTS:
        return KNOWN_HOSTS[host]
    return next((kind for prefix, kind in HOST_PREFIXES if host.startswith(prefix)), "")


def _host_and_path(url: str) -> tuple[str, str]:
    if match := SCP_LIKE.fullmatch(url):
        return match["host"], match["path"]
    parts = urlsplit(url)
    if parts.scheme not in ("https", "ssh", "http") or not parts.hostname:
        return "", ""
    return parts.hostname, parts.path


def commit_url(repository: str, commit: str) -> str:
    """The web page of ``commit`` of ``repository`` (https, ssh:// or user@host:path), or ''."""
    if not repository or not COMMIT.fullmatch(commit or ""):
        return ""
    host, path = _host_and_path(repository.strip())
    kind = forge_of(host)
    path = path.strip("/").removesuffix(".git")
    if not kind or not REPOSITORY_PATH.fullmatch(path):
        return ""
    return f"https://{host.lower()}/{path}/" + COMMIT_PATHS[kind].format(commit=commit)
