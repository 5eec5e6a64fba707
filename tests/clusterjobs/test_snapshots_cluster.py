"""Code snapshots on Kubernetes: an init container fetches the job's snapshot from the portal with
the job's own token (the one API call that token may make, for its own job alone), checks its
SHA-256 and unpacks it into /workspace, after the clone when the snapshot is a checkout's
uncommitted changes. The manifests are validated against the published schema and created on the
test API server; the step's script is run for real against the portal; a failed unpack fails the
job naming the step with its log."""

import base64
import hashlib
import json
import subprocess

import pytest

from clusterjobs import dispatch, project_ready
from clusterjobs.backends.kubernetes import job_manifest
from clusterjobs.backends.kubernetes.status import job_status
from clusterjobs.models import Job, JobStatus
from clusterjobs.sources import checkout
from clusterjobs.sources.snapshots import store_snapshot
from portal.accounts.actions import create_token, revoke_token
from tests.factories import ProjectFactory

from .conftest import assert_valid, make_spec
from .factories import JobFactory
from .test_snapshots import TRAIN, archive_of
from .test_submit import api

NS = "taller-genomics"
DIGEST = "ab" * 32
COMMIT = "0123456789abcdef0123456789abcdef01234567"
RESTRICTED = {
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


@pytest.fixture(autouse=True)
def _snapshot_storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "snapshots": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "snaps")},
        },
    }


def snapshot_spec(job_id: int = 42, **source):
    env = {"MLFLOW_TRACKING_TOKEN": "tlr_job", "SEED": "7"}
    return make_spec(
        job_id, source={"snapshot": DIGEST, **source}, env=env, secret_names=("MLFLOW_TRACKING_TOKEN",)
    )


# ---- the manifest --------------------------------------------------------------------------------


def test_the_unpack_init_container_fetches_with_the_jobs_token_from_its_secret():
    manifest = job_manifest(snapshot_spec(), git_image="alpine/git:v2.47.2", portal_url="http://portal:8000/")
    assert_valid(manifest)
    pod = manifest["spec"]["template"]["spec"]
    (unpack,) = pod["initContainers"]
    (main,) = pod["containers"]
    assert unpack["name"] == "unpack" and unpack["command"] == ["sh", "-c", checkout.UNPACK_SCRIPT]
    assert unpack["securityContext"] == RESTRICTED == main["securityContext"]
    assert unpack["env"] == [
        {"name": "HOME", "value": "/tmp"},
        {"name": "TALLER_SNAPSHOT_URL", "value": "http://portal:8000/api/v1/jobs/42/snapshot/"},
        {"name": "TALLER_SNAPSHOT_DIGEST", "value": DIGEST},
        {
            "name": "TALLER_SNAPSHOT_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": "taller-42", "key": "MLFLOW_TRACKING_TOKEN"}},
        },
    ]
    assert {"name": "workspace", "emptyDir": {}} in pod["volumes"]
    assert {"name": "workspace", "mountPath": "/workspace"} in unpack["volumeMounts"]
    assert main["workingDir"] == "/workspace" and "tlr_job" not in json.dumps(manifest)


def test_a_snapshot_on_top_of_a_commit_is_unpacked_after_the_clone_replacing_its_tree():
    spec = snapshot_spec(git="https://git.example.edu/lab/train.git", ref="main", commit=COMMIT)
    manifest = job_manifest(spec)
    assert_valid(manifest)
    clone, unpack = manifest["spec"]["template"]["spec"]["initContainers"]
    assert (clone["name"], unpack["name"]) == ("source", "unpack")
    assert {"name": "TALLER_SNAPSHOT_REPLACE", "value": "1"} in unpack["env"]
    assert {"name": "TALLER_GIT_COMMIT", "value": COMMIT} in clone["env"]


def test_the_cluster_creates_it(cluster, settings):
    settings.TALLER_JOB_PORTAL_URL = "http://taller-web.taller.svc:8000"
    cluster.backend.submit(snapshot_spec(43))
    pod = cluster.api.get("jobs", NS, "taller-43")["spec"]["template"]["spec"]
    (unpack,) = pod["initContainers"]
    url = {e["name"]: e.get("value") for e in unpack["env"]}["TALLER_SNAPSHOT_URL"]
    assert url == "http://taller-web.taller.svc:8000/api/v1/jobs/43/snapshot/"
    assert "MLFLOW_TRACKING_TOKEN" in cluster.api.get("secrets", NS, "taller-43")["data"]


def test_a_failed_unpack_fails_the_job_naming_the_step_with_its_log():
    job = {
        "metadata": {"name": "taller-42", "namespace": NS},
        "status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]},
    }
    message = f"taller: fetching code snapshot {DIGEST}\ncurl: (22) The requested URL returned error: 404\n"
    pod = {
        "metadata": {"name": "taller-42-abc", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "status": {
            "phase": "Failed",
            "initContainerStatuses": [
                {"name": "unpack", "state": {"terminated": {"exitCode": 22, "message": message}}}
            ],
            "containerStatuses": [{"name": "main", "state": {"waiting": {"reason": "PodInitializing"}}}],
        },
    }
    status = job_status(42, job, [pod])
    assert status.phase == "failed"
    assert status.reason.startswith("unpack failed (exit code 22): taller: fetching code snapshot")
    assert "returned error: 404" in status.reason


# ---- the one endpoint a job's token may call -----------------------------------------------------


def job_with_snapshot(project, submitter, tmp_path, files: dict[str, str]):
    tmp_path.mkdir(parents=True, exist_ok=True)
    digest, data = archive_of(tmp_path, files)
    store_snapshot(submitter, project, digest, data)
    token, key = create_token(submitter, "job", project=project)
    job = JobFactory(
        project=project, submitter=submitter, status=JobStatus.RUNNING, source={"snapshot": digest}
    )
    Job.objects.filter(pk=job.pk).update(mlflow_token=token)
    return job, key, digest, data


def with_key(key: str):
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.mark.django_db
def test_a_jobs_token_fetches_its_own_jobs_snapshot_and_nothing_else(personas, tmp_path):
    job, key, digest, data = job_with_snapshot(personas.project, personas.bob, tmp_path, {"train.py": TRAIN})
    other, other_key, other_digest, _data = job_with_snapshot(
        personas.project, personas.bob, tmp_path / "b", {"other.py": "print(2)\n"}
    )
    elsewhere = ProjectFactory(slug="astro")
    foreign, _key, _digest, _data = job_with_snapshot(elsewhere, personas.bob, tmp_path / "c", {"x.py": ""})

    got = with_key(key).get(f"/api/v1/jobs/{job.pk}/snapshot/")
    assert got.status_code == 200, got.content
    assert b"".join(got.streaming_content) == data
    assert got["Content-Type"] == "application/gzip"
    # Another job's snapshot, in the same project or another: not with this token.
    assert with_key(key).get(f"/api/v1/jobs/{other.pk}/snapshot/").status_code == 404
    assert with_key(key).get(f"/api/v1/jobs/{foreign.pk}/snapshot/").status_code == 404
    assert with_key(other_key).get(f"/api/v1/jobs/{job.pk}/snapshot/").status_code == 404
    # Nothing else of the API: not the snapshots themselves, not the jobs, not the projects.
    for path in [
        f"/api/v1/projects/genomics/snapshots/{digest}/",
        "/api/v1/projects/genomics/snapshots/",
        f"/api/v1/jobs/{job.pk}/",
        f"/api/v1/jobs/{job.pk}/logs/",
        "/api/v1/projects/",
    ]:
        assert with_key(key).get(path).status_code == 403, path
    assert with_key(key).delete(f"/api/v1/projects/genomics/snapshots/{other_digest}/").status_code == 403
    # A job that has ended: its token is revoked, and fetches nothing.
    revoke_token(Job.objects.get(pk=job.pk).mlflow_token)
    assert with_key(key).get(f"/api/v1/jobs/{job.pk}/snapshot/").status_code == 401


@pytest.mark.django_db
def test_people_who_see_the_job_may_download_its_snapshot(personas, tmp_path):
    job, _key, _digest, data = job_with_snapshot(
        personas.project, personas.bob, tmp_path, {"train.py": TRAIN}
    )
    url = f"/api/v1/jobs/{job.pk}/snapshot/"
    for who, code in [("alice", 200), ("bob", 200), ("vera", 200), ("root", 200), ("charlie", 404)]:
        assert api(getattr(personas, who)).get(url).status_code == code, who
    assert api().get(url).status_code == 401
    plain = JobFactory(project=personas.project, submitter=personas.bob)
    missing = api(personas.bob).get(f"/api/v1/jobs/{plain.pk}/snapshot/")
    assert missing.status_code == 404 and "does not start from a code snapshot" in missing.json()["detail"]


# ---- the unpack step's script, run for real against the portal -----------------------------------


def run_unpack(folder, url: str, key: str, digest: str, *, replace: bool = False):
    env = {
        "PATH": "/usr/bin:/bin",
        "TMPDIR": str(folder.parent),
        checkout.SNAPSHOT_URL: url,
        checkout.SNAPSHOT_DIGEST: digest,
        checkout.SNAPSHOT_TOKEN: key,
        **({checkout.SNAPSHOT_REPLACE: "1"} if replace else {}),
    }
    folder.mkdir(exist_ok=True)
    return subprocess.run(
        checkout.unpack_command(), cwd=folder, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.django_db(transaction=True)
def test_the_unpack_step_fetches_checks_and_unpacks(personas, tmp_path, live_server):
    files = {"train.py": TRAIN, "pkg/util.py": "X = 1\n"}
    job, key, digest, _data = job_with_snapshot(personas.project, personas.bob, tmp_path, files)
    url = checkout.snapshot_url(live_server.url, job.pk)

    done = run_unpack(tmp_path / "ws", url, key, digest)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "taller: unpacked 2 files of the code snapshot" in done.stdout
    assert (tmp_path / "ws" / "pkg" / "util.py").read_text() == "X = 1\n"
    assert "Token" not in done.stdout + done.stderr and key not in done.stdout + done.stderr

    # On top of a checkout: its tree replaced by the snapshot's (a deleted file stays deleted), .git kept.
    checkout_dir = tmp_path / "co"
    (checkout_dir / ".git").mkdir(parents=True)
    (checkout_dir / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (checkout_dir / "deleted.py").write_text("gone\n")
    done = run_unpack(checkout_dir, url, key, digest, replace=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in checkout_dir.iterdir()) == [".git", "pkg", "train.py"]

    wrong = run_unpack(tmp_path / "ws2", url, key, "0" * 64)
    assert wrong.returncode == 1 and f"SHA-256 is {digest}, not {'0' * 64}" in wrong.stdout
    refused = run_unpack(tmp_path / "ws3", url, "tlr_not-a-token", digest)
    assert refused.returncode != 0 and "401" in refused.stderr


# ---- dispatch to the cluster ---------------------------------------------------------------------


@pytest.mark.django_db
def test_a_dispatched_jobs_token_on_the_cluster_fetches_its_snapshot(
    cluster, personas, tmp_path, settings, mlflow_uri
):
    settings.TALLER_JOB_PORTAL_URL = "http://portal.example.edu"
    digest, data = archive_of(tmp_path, {"train.py": TRAIN})
    store_snapshot(personas.bob, personas.project, digest, data)
    response = api(personas.bob).post(
        "/api/v1/jobs/",
        {
            "project": "genomics",
            "name": "from a snapshot",
            "image": "python:3.11-slim",
            "command": ["python", "train.py"],
            "resources": {"cpu": "1", "memory_mib": 1024, "gpus": 0},
            "time_limit_minutes": 10,
            "source": {"snapshot": digest},
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    job = Job.objects.get(pk=response.json()["id"])
    Job.objects.filter(pk=job.pk).update(status=JobStatus.DISPATCHING)
    project_ready.forget_project_ready(cluster.backend, "genomics")
    assert dispatch.dispatch(job.pk) == "submitted"
    project_ready.forget_project_ready(cluster.backend, "genomics")

    created = cluster.api.get("jobs", NS, f"taller-{job.pk}")
    (unpack,) = created["spec"]["template"]["spec"]["initContainers"]
    env = {e["name"]: e.get("value") for e in unpack["env"]}
    assert env["TALLER_SNAPSHOT_URL"] == f"http://portal.example.edu/api/v1/jobs/{job.pk}/snapshot/"
    assert env["TALLER_SNAPSHOT_DIGEST"] == digest
    secret = cluster.api.get("secrets", NS, f"taller-{job.pk}")["data"]
    key = base64.b64decode(secret["MLFLOW_TRACKING_TOKEN"]).decode()
    got = with_key(key).get(f"/api/v1/jobs/{job.pk}/snapshot/")
    assert got.status_code == 200 and hashlib.sha256(b"".join(got.streaming_content)).hexdigest() == digest
