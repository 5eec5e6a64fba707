"""A git repository address checked, and its ref resolved to a commit by one ``git ls-remote``.

Allowed addresses: ``https://`` and ``ssh://`` (and ``user@host:path``, git's short ssh form) to
hosts that do not resolve to the portal's own or private addresses, plain ``http://`` only to a
host the site trusts (``TALLER_GIT_TRUSTED_HOSTS``, an internal forge, which may also be private),
and a path under one of ``TALLER_GIT_LOCAL_ROOTS``. Never ``file://`` or another transport: git
is started with ``GIT_ALLOW_PROTOCOL`` so that it cannot be talked into one either.

The address the check resolved is the one git connects to (``Pin``): the ``git ls-remote`` is given
it (``http.curloptResolve`` for http(s), ssh's ``HostName`` with ``HostKeyAlias`` for ssh) and
resolves nothing again, so a name that answers differently the second time (DNS rebinding) cannot
send it to an address the check refused. With ``TALLER_GIT_SSH_KNOWN_HOSTS`` (a known_hosts file)
ssh checks the forge's key strictly against it; without, it accepts a host's first key.
"""

import ipaddress
import os
import re
import shlex
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

from . import checkout

COMMIT = re.compile(r"[0-9a-f]{40}")
SCP_LIKE = re.compile(r"(?P<user>[A-Za-z0-9._-]+)@(?P<host>[A-Za-z0-9.-]+):(?P<path>[^/].*)")
MAX_URL = 500
MAX_REF = 250


class SourceError(Exception):
    """A repository or ref that cannot be used; the message is for people."""


@dataclass(frozen=True)
class Credential:
    """What git needs to read a private repository (none of it is ever shown back)."""

    username: str = ""
    token: str = ""
    ssh_key: str = ""

    def env(self) -> dict[str, str]:
        values = {
            checkout.USERNAME: self.username,
            checkout.TOKEN: self.token,
            checkout.SSH_KEY: self.ssh_key,
        }
        return {name: value for name, value in values.items() if value}


@dataclass(frozen=True)
class Pin:
    """The address the portal checked for a repository's host, which git is then made to use."""

    host: str
    port: int
    address: str
    ssh: bool = False

    def git_args(self) -> list[str]:
        if self.ssh:
            return []
        address = f"[{self.address}]" if ":" in self.address else self.address
        return ["-c", f"http.curloptResolve={self.host}:{self.port}:{address}"]

    def ssh_options(self) -> str:
        return f" -o HostName={self.address} -o HostKeyAlias={self.host}" if self.ssh else ""

    def env(self) -> dict[str, str]:
        """The clone step's variables that make it connect to this address (``checkout``)."""
        if self.ssh:
            return {checkout.SSH_PIN: self.ssh_options()}
        return {checkout.RESOLVE: self.git_args()[1].removeprefix("http.curloptResolve=")}


def _host_error(
    host: str, port: int | None, *, plain_http: bool, trusted: list[str] | None = None
) -> str | None:
    """Why the portal or its jobs may not reach ``host``, or None; ``trusted`` hosts (host or
    host:port) may be private and plain http (by default the site's git hosts)."""
    port = port or (80 if plain_http else 443)
    return _check_host(host, port, plain_http=plain_http, ssh=False, trusted=trusted)[0]


def _check_host(
    host: str, port: int, *, plain_http: bool, ssh: bool, trusted: list[str] | None = None
) -> tuple[str | None, Pin | None]:
    """(why the host may not be fetched from or None, the address checked). A host the site
    trusts (``trusted``, by default its git hosts) may be private or unresolvable here (then
    nothing is pinned)."""
    trusted = {h.lower() for h in (settings.TALLER_GIT_TRUSTED_HOSTS if trusted is None else trusted)}
    if {host.lower(), f"{host.lower()}:{port}"} & trusted:
        try:
            info = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            return None, None
        return None, Pin(host, port, info[0][4][0].split("%")[0], ssh)
    if plain_http:
        return _("Use https:// or ssh://: plain http:// is only for the site's own forges."), None
    try:
        info = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return _("The host %(host)s could not be found.") % {"host": host}, None
    addresses = [entry[4][0].split("%")[0] for entry in info]
    for address in addresses:
        if not ipaddress.ip_address(address).is_global:
            message = _("The host %(host)s is a private address; the portal does not fetch from it.")
            return message % {"host": host}, None
    return None, Pin(host, port, addresses[0], ssh)


def check_url(url: str) -> tuple[str | None, Pin | None]:
    """Why ``url`` may not be fetched by the portal and its jobs (or None), and the address its
    host was checked at (None for a path, or a trusted host that does not resolve here)."""
    if not url or len(url) > MAX_URL or any(ch.isspace() or ord(ch) < 32 for ch in url):
        return _("Give the repository's address, e.g. https://github.com/group/project.git."), None
    if url.startswith("/"):
        path = Path(os.path.normpath(url))
        roots = [Path(os.path.normpath(root)) for root in settings.TALLER_GIT_LOCAL_ROOTS]
        if any(path == root or root in path.parents for root in roots):
            return None, None
        return _("A path is allowed only under the site's git folders."), None
    if url.startswith("-"):
        return _("Give the repository's address, e.g. https://github.com/group/project.git."), None
    if match := SCP_LIKE.fullmatch(url):
        return _check_host(match["host"], 22, plain_http=False, ssh=True)
    parts = urlsplit(url)
    if parts.scheme not in ("https", "ssh", "http") or not parts.hostname:
        scheme = f"{parts.scheme}://" if parts.scheme else url
        return _("Only https://, ssh:// or a path the site allows; not %(scheme)s.") % {
            "scheme": scheme
        }, None
    if parts.password:
        return _("Put no password in the address: set the project's git credential instead."), None
    try:
        port = parts.port or {"https": 443, "http": 80, "ssh": 22}[parts.scheme]
    except ValueError:
        return _("The address has an invalid port."), None
    return _check_host(parts.hostname, port, plain_http=parts.scheme == "http", ssh=parts.scheme == "ssh")


def url_error(url: str) -> str | None:
    """Why ``url`` may not be fetched by the portal and its jobs, or None."""
    return check_url(url)[0]


def ssh_command() -> str:
    """The ssh git runs: no prompts; the forge's key checked against the site's known hosts file
    (TALLER_GIT_SSH_KNOWN_HOSTS), or, without one, a host's first key accepted."""
    if known := settings.TALLER_GIT_SSH_KNOWN_HOSTS:
        return f"ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile={shlex.quote(known)}"
    return "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new"


def ref_error(ref: str) -> str | None:
    if not ref or len(ref) > MAX_REF or ref.startswith("-") or any(ch.isspace() for ch in ref):
        return _("Give a branch, a tag or a commit, e.g. main.")
    return None


def git_env(credential: Credential | None, home: str) -> dict[str, str]:
    """The environment of the portal's own git calls: nothing of the portal's, no prompts, only
    the transports allowed, the credential for the helper of ``checkout.CLONE_SCRIPT``."""
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": home,
        "LANG": "C.UTF-8",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_ASKPASS": "true",
        "SSH_ASKPASS": "true",
        "GIT_SSH_COMMAND": ssh_command(),
        "GIT_ALLOW_PROTOCOL": "https:ssh:http:file",
        **(credential.env() if credential else {}),
    }


def _credential_args(credential: Credential | None) -> list[str]:
    args = ["-c", "credential.helper="]
    if credential and credential.token:
        args += [
            "-c",
            'credential.helper=!f() { test "$1" = get || exit 0; '
            'echo "username=${TALLER_GIT_USERNAME:-git}"; echo "password=$TALLER_GIT_TOKEN"; }; f',
        ]
    return args


# git's own words for a refusal and for a missing repository (its http transport says "The
# requested URL returned error: <status>"; forges add their own "remote:" lines). Matched as
# phrases, never as bare digits: "403" or "404" also occur in a port or a path of the URL.
_REFUSED = re.compile(
    r"authentication failed|could not read username|could not read password"
    r"|returned error: 40[13]\b|permission denied \(publickey"
)
_MISSING = re.compile(
    r"repository not found|repository '[^']*' not found|does not appear to be a git repository"
    r"|returned error: 404\b|no such file or directory"
)


def _explain(stderr: str, url: str) -> str:
    text = stderr.lower()
    if _REFUSED.search(text):
        return _(
            "The repository %(url)s needs credentials the project does not have (or they were refused)."
        ) % {"url": url}
    if _MISSING.search(text):
        return _(
            "There is no repository at %(url)s (or it is private and the project has no credential)."
        ) % {"url": url}
    last = next((line for line in reversed(stderr.strip().splitlines()) if line.strip()), "")
    return _("git could not read %(url)s: %(error)s") % {"url": url, "error": last[:300]}


def resolve(url: str, ref: str, credential: Credential | None = None) -> str:
    """The commit ``ref`` (a branch, a tag, or a full commit id) names in the repository at ``url``:
    the address checked, then one ``git ls-remote`` to the address checked, bounded by
    TALLER_GIT_TIMEOUT_SECONDS. Raises SourceError."""
    message, pin = check_url(url)
    if message:
        raise SourceError(message)
    with tempfile.TemporaryDirectory(prefix="taller-git-") as home:
        env = git_env(credential, home)
        if pin is not None:
            env["GIT_SSH_COMMAND"] += pin.ssh_options()
        key = Path(home) / "key"
        if credential and credential.ssh_key:
            key.write_text(credential.ssh_key.rstrip("\n") + "\n")
            key.chmod(0o600)
            env["GIT_SSH_COMMAND"] += f" -i {key} -o IdentitiesOnly=yes"
        try:
            done = subprocess.run(
                [
                    "git",
                    *(pin.git_args() if pin else []),
                    *_credential_args(credential),
                    "ls-remote",
                    "--",
                    url,
                ],
                env=env,
                capture_output=True,
                text=True,
                timeout=settings.TALLER_GIT_TIMEOUT_SECONDS,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as error:
            raise SourceError(
                _("The repository %(url)s did not answer within %(n)s seconds.")
                % {"url": url, "n": settings.TALLER_GIT_TIMEOUT_SECONDS}
            ) from error
    if done.returncode != 0:
        raise SourceError(_explain(done.stderr, url))
    refs: dict[str, str] = {}
    for line in done.stdout.splitlines():
        commit, _tab, name = line.partition("\t")
        refs[name] = commit
    for name in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}^{{}}", f"refs/tags/{ref}"):
        if name in refs and COMMIT.fullmatch(refs[name]):
            return refs[name]
    if COMMIT.fullmatch(ref):
        return ref  # a commit id: whether the repository has it, the clone says
    raise SourceError(_("No branch or tag %(ref)s in %(url)s.") % {"ref": ref, "url": url})
