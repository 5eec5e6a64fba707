"""A real DVC project for the tests: a git repository (served by the test git server) made with
`dvc init`, a file tracked by `dvc add` and a stage's output pinned in `dvc.lock` by `dvc repro`,
its data pushed with `dvc push` to a local folder or to an S3-compatible server started here (moto
in server mode on 127.0.0.1)."""

import hashlib
import os
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from .gitserver import GIT_ENV, GitServer, git

DVC = str(Path(sys.executable).parent / "dvc")
TRAIN_CSV = "x,y\n1,2\n3,4\n5,6\n"
KEYS = ("AKIATALLERTEST", "taller-test-secret-key")
TRAIN = """import mlflow
from pathlib import Path

text = Path("data/train.csv").read_text()
prepared = Path("data/prepared.csv").read_text()
with mlflow.start_run():
    mlflow.log_metric("rows", len(text.splitlines()) - 1)
print("read", len(text), "bytes of data/train.csv:", text.splitlines()[1])
print("prepared:", prepared.splitlines()[-1])
"""


def dvc_env(home: Path, keys: tuple[str, str] = KEYS) -> dict[str, str]:
    state = home / ".dvc-state"
    state.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        **GIT_ENV,
        "HOME": str(home),
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(state),
        "DVC_GLOBAL_CONFIG_DIR": str(state),
        "DVC_SYSTEM_CONFIG_DIR": str(state),
        "AWS_ACCESS_KEY_ID": keys[0],
        "AWS_SECRET_ACCESS_KEY": keys[1],
    }


def dvc(*args: str, cwd: Path) -> str:
    done = subprocess.run([DVC, *args], cwd=cwd, env=dvc_env(cwd.parent), capture_output=True, text=True)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


@dataclass
class DvcRepo:
    url: str
    commit: str
    work: Path
    pins: dict[str, dict]  # path -> {"md5", "size"} as the commit's .dvc file and dvc.lock say

    def push(self, remote: str, endpoint: str = "") -> None:
        """`dvc push` of everything the commit pins to ``remote``."""
        dvc("remote", "add", "--local", "--force", "push", remote, cwd=self.work)
        if endpoint:
            dvc("remote", "modify", "--local", "push", "endpointurl", endpoint, cwd=self.work)
        dvc("push", "--remote", "push", cwd=self.work)


def make_dvc_repo(root: Path, server: GitServer, name: str = "data-lab") -> DvcRepo:
    bare, work = root / f"{name}.git", root / f"{name}-work"
    git("init", "-q", "--bare", "-b", "main", str(bare))
    git("init", "-q", "-b", "main", str(work))
    dvc("init", "-q", cwd=work)
    (work / "data").mkdir()
    (work / "data" / "train.csv").write_text(TRAIN_CSV)
    (work / "train.py").write_text(TRAIN)
    dvc("add", "data/train.csv", cwd=work)
    prepare = f"{sys.executable} -c \"import shutil; shutil.copy('data/train.csv', 'data/prepared.csv')\""
    dvc("stage", "add", "-n", "prepare", "-d", "data/train.csv", "-o", "data/prepared.csv", prepare, cwd=work)
    dvc("repro", cwd=work)
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "data", cwd=work)
    git("remote", "add", "origin", str(bare), cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    tracked = yaml.safe_load((work / "data" / "train.csv.dvc").read_text())["outs"][0]
    locked = yaml.safe_load((work / "dvc.lock").read_text())["stages"]["prepare"]["outs"][0]
    assert tracked["md5"] == hashlib.md5(TRAIN_CSV.encode()).hexdigest()
    return DvcRepo(
        url=server.url(name),
        commit=git("rev-parse", "HEAD", cwd=work),
        work=work,
        pins={
            "data/train.csv": {"md5": tracked["md5"], "size": tracked["size"]},
            "data/prepared.csv": {"md5": locked["md5"], "size": locked["size"]},
        },
    )


@contextmanager
def s3_server(bucket: str = "lab-data"):
    """An S3-compatible server (moto) on 127.0.0.1 with an empty ``bucket``; its endpoint."""
    import boto3
    from moto.server import ThreadedMotoServer

    from tests.conftest import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=KEYS[0],
            aws_secret_access_key=KEYS[1],
            region_name="us-east-1",
        ).create_bucket(Bucket=bucket)
        yield endpoint
    finally:
        server.stop()


@pytest.fixture(scope="session")
def _dvc_served(tmp_path_factory):
    """The DVC project's repository, made once (each dvc command takes seconds) and served."""
    root = tmp_path_factory.mktemp("dvc-git")
    server = GitServer(root).start()
    try:
        yield server, make_dvc_repo(root, server)
    finally:
        server.stop()


@pytest.fixture
def dvc_git(_dvc_served, settings):
    """A DVC project's repository served over HTTP on 127.0.0.1 (a host the site trusts)."""
    server, _repo = _dvc_served
    settings.TALLER_GIT_TRUSTED_HOSTS = [*settings.TALLER_GIT_TRUSTED_HOSTS, server.host]
    return _dvc_served


@pytest.fixture
def s3(settings):
    """The S3-compatible server's endpoint, a host the site trusts for DVC remotes."""
    with s3_server() as endpoint:
        settings.TALLER_DVC_TRUSTED_HOSTS = [endpoint.removeprefix("http://")]
        yield endpoint
