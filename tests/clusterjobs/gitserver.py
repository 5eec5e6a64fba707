"""A real git server for the tests: bare repositories served over smart HTTP on 127.0.0.1 by
`git http-backend` (git's own CGI program) behind a small threaded HTTP server, optionally behind
basic authentication, and a helper that makes a repository with commits, a branch and a tag."""

import base64
import os
import subprocess
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.edu",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.edu",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(*args: str, cwd: Path | str | None = None) -> str:
    env = {**os.environ, **GIT_ENV, "HOME": str(cwd or os.getcwd())}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        self.server.requests.append((self.command, self.path))
        if self.server.credentials and self.headers.get("Authorization") != self.server.expected_header:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _sep, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1",
            "REMOTE_USER": "test",
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        if protocol := self.headers.get("Git-Protocol"):
            env["HTTP_GIT_PROTOCOL"] = protocol
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
        separator = b"\r\n\r\n" if b"\r\n\r\n" in out else b"\n\n"
        head, _sep, payload = out.partition(separator)
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _colon, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path, credentials: tuple[str, str] | None, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.root = root
        self.credentials = credentials
        token = base64.b64encode(":".join(credentials).encode()).decode() if credentials else ""
        self.expected_header = f"Basic {token}"
        self.requests: list[tuple[str, str]] = []


@dataclass
class GitServer:
    root: Path
    credentials: tuple[str, str] | None = None
    server: _Server | None = field(default=None, repr=False)
    port: int = 0

    def start(self) -> "GitServer":
        self.server = _Server(self.root, self.credentials, self.port)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def url(self, name: str) -> str:
        return f"http://{self.host}/{name}.git"

    @property
    def requests(self) -> list[tuple[str, str]]:
        return self.server.requests


@dataclass
class Repo:
    name: str
    bare: Path
    work: Path
    commits: dict[str, str]  # "main", "feature", "v1" (the tag's commit), "first"


def make_repo(root: Path, name: str, files: dict[str, str]) -> Repo:
    """A bare repository ``root/<name>.git`` with two commits on main (``files`` in the second), a
    branch ``feature`` with one more, and an annotated tag ``v1`` on the first commit."""
    bare, work = root / f"{name}.git", root / f"{name}-work"
    git("init", "-q", "--bare", "-b", "main", str(bare))
    git("init", "-q", "-b", "main", str(work))
    (work / "README").write_text("first\n")
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "first", cwd=work)
    first = git("rev-parse", "HEAD", cwd=work)
    git("tag", "-a", "v1", "-m", "version 1", cwd=work)
    for path, text in files.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text(text)
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "code", cwd=work)
    main = git("rev-parse", "HEAD", cwd=work)
    git("checkout", "-q", "-b", "feature", cwd=work)
    (work / "FEATURE").write_text("feature\n")
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "feature", cwd=work)
    feature = git("rev-parse", "HEAD", cwd=work)
    git("checkout", "-q", "main", cwd=work)
    git("remote", "add", "origin", str(bare), cwd=work)
    git("push", "-q", "origin", "main", "feature", "v1", cwd=work)
    return Repo(name, bare, work, {"main": main, "feature": feature, "v1": first, "first": first})


TRAIN = "import os\nprint('trained from git in', os.getcwd())\nprint('token seen:', 'TALLER_GIT_TOKEN' in os.environ)\n"
DEPLOY = ("deploy", "glpat-s3cret-deploy-token")


@contextmanager
def serving(
    root: Path, settings, name: str, credentials: tuple[str, str] | None = None, files: dict | None = None
):
    """A repository ``name`` made under ``root`` and served over HTTP on 127.0.0.1, a host the
    site trusts for the test; (server, repo)."""
    root.mkdir()
    repo = make_repo(root, name, files or {"train.py": TRAIN})
    server = GitServer(root, credentials=credentials).start()
    settings.TALLER_GIT_TRUSTED_HOSTS = [*settings.TALLER_GIT_TRUSTED_HOSTS, server.host]
    try:
        yield server, repo
    finally:
        server.stop()


@pytest.fixture
def public_git(tmp_path, settings):
    """A public repository ``lab``."""
    with serving(tmp_path / "public-git", settings, "lab") as served:
        yield served


@pytest.fixture
def private_git(tmp_path, settings):
    """A repository ``secret-lab`` that the server gives only for the deploy token ``DEPLOY``."""
    with serving(tmp_path / "private-git", settings, "secret-lab", DEPLOY) as served:
        yield served
