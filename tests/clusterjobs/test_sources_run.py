"""A job with a git source where it runs: on Kubernetes an init container checks the commit out
into /workspace (the credential only from the job's Secret, restricted like the job's container),
validated against the published schema and created on the test API server; on the local executor
the runner checks it out into the job's folder (from a real git server, with and without basic
auth) and the command runs there; a clone that fails ends the job failed, naming the step."""

import json

import pytest

from clusterjobs import dispatch, project_ready
from clusterjobs.backends.kubernetes import job_manifest, secret_manifest
from clusterjobs.backends.kubernetes.status import job_status
from clusterjobs.models import JobStatus
from clusterjobs.sources import actions as source_actions
from clusterjobs.sources import checkout

from .conftest import assert_valid, make_spec
from .factories import JobFactory
from .gitserver import DEPLOY

NS = "taller-genomics"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
SOURCE = {"git": "https://git.example.edu/lab/train.git", "ref": "main", "commit": COMMIT}
RESTRICTED = {
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def source_spec(job_id: int = 42, **changes):
    env = {
        "SEED": "7",
        "MLFLOW_TRACKING_TOKEN": "tlr_x",
        checkout.USERNAME: DEPLOY[0],
        checkout.TOKEN: DEPLOY[1],
    }
    return make_spec(
        job_id, source=SOURCE, env=env, secret_names=("MLFLOW_TRACKING_TOKEN", checkout.TOKEN), **changes
    )


# ---- Kubernetes ----------------------------------------------------------------------------------


def test_the_init_container_checks_the_commit_out_into_the_workspace():
    manifest = job_manifest(source_spec(), git_image="registry.example.edu/tools/git:2.47")
    assert_valid(manifest)
    pod = manifest["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    (main,) = pod["containers"]
    assert init["image"] == "registry.example.edu/tools/git:2.47"
    assert init["command"] == ["sh", "-c", checkout.CLONE_SCRIPT]
    assert init["securityContext"] == RESTRICTED == main["securityContext"]
    assert {"name": "workspace", "emptyDir": {}} in pod["volumes"]
    assert {"name": "workspace", "mountPath": "/workspace"} in init["volumeMounts"]
    assert {"name": "workspace", "mountPath": "/workspace"} in main["volumeMounts"]
    assert main["workingDir"] == "/workspace"
    assert init["env"] == [
        {"name": "HOME", "value": "/tmp"},
        {"name": "TALLER_GIT_URL", "value": SOURCE["git"]},
        {"name": "TALLER_GIT_COMMIT", "value": COMMIT},
        {"name": "TALLER_GIT_USERNAME", "value": "deploy"},
        {
            "name": "TALLER_GIT_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": "taller-42", "key": "TALLER_GIT_TOKEN"}},
        },
    ]
    # The training container gets none of the credential; nothing in the Job carries the token.
    assert not [e for e in main["env"] if e["name"].startswith("TALLER_GIT_")]
    assert DEPLOY[1] not in json.dumps(manifest)
    assert secret_manifest(source_spec(), owner_uid="u")["stringData"][checkout.TOKEN] == DEPLOY[1]


def test_a_job_without_a_source_has_no_init_container():
    pod = job_manifest(make_spec())["spec"]["template"]["spec"]
    assert "initContainers" not in pod and "workingDir" not in pod["containers"][0]


def test_the_cluster_creates_it_and_only_the_init_container_reads_the_token(cluster, settings):
    settings.TALLER_GIT_IMAGE = "alpine/git:v2.47.2"
    cluster.backend.submit(source_spec())
    job = cluster.api.get("jobs", NS, "taller-42")
    assert DEPLOY[1] not in json.dumps(job)
    pod = job["spec"]["template"]["spec"]
    assert pod["initContainers"][0]["image"] == "alpine/git:v2.47.2"
    secret = cluster.api.get("secrets", NS, "taller-42")
    assert sorted(secret["data"]) == ["MLFLOW_TRACKING_TOKEN", "TALLER_GIT_TOKEN"]
    assert "TALLER_GIT_TOKEN" not in cluster.api.container_env(NS, "taller-42")


def test_a_failed_clone_fails_the_job_naming_the_step_with_its_log():
    job = {
        "metadata": {"name": "taller-42", "namespace": NS},
        "status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]},
    }
    message = (
        "taller: fetching 0123 from https://git.example.edu/lab/train.git\n"
        "fatal: could not read Username for 'https://git.example.edu': terminal prompts disabled\n"
    )
    pod = {
        "metadata": {"name": "taller-42-abc", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "status": {
            "phase": "Failed",
            "initContainerStatuses": [
                {
                    "name": "source",
                    "state": {"terminated": {"exitCode": 128, "reason": "Error", "message": message}},
                }
            ],
            "containerStatuses": [{"name": "main", "state": {"waiting": {"reason": "PodInitializing"}}}],
        },
    }
    status = job_status(42, job, [pod])
    assert status.phase == "failed"
    assert status.reason.startswith("clone failed (exit code 128): taller: fetching 0123")
    assert "could not read Username" in status.reason


@pytest.mark.django_db
def test_dispatch_hands_the_projects_credential_to_the_clone_alone(cluster, personas, settings):
    source_actions.set_credential(personas.alice, personas.project, username=DEPLOY[0], token=DEPLOY[1])
    project_ready.forget_project_ready(cluster.backend, "genomics")
    job = JobFactory(
        project=personas.project, submitter=personas.bob, status=JobStatus.DISPATCHING, source=SOURCE
    )
    without = JobFactory(project=personas.project, submitter=personas.bob, status=JobStatus.DISPATCHING)
    assert dispatch.dispatch(job.pk) == "submitted"
    assert dispatch.dispatch(without.pk) == "submitted"
    project_ready.forget_project_ready(cluster.backend, "genomics")

    created = cluster.api.get("jobs", NS, f"taller-{job.pk}")
    assert DEPLOY[1] not in json.dumps(created)
    assert "TALLER_GIT_TOKEN" in cluster.api.get("secrets", NS, f"taller-{job.pk}")["data"]
    assert "TALLER_GIT_TOKEN" not in cluster.api.container_env(NS, f"taller-{job.pk}")
    other = cluster.api.get("secrets", NS, f"taller-{without.pk}")
    assert "TALLER_GIT_TOKEN" not in other["data"]  # a job without a source gets no credential


# ---- the local executor --------------------------------------------------------------------------


def local_spec(job_id: int, url: str, commit: str, *, token: str = ""):
    env = {"SEED": "1"}
    if token:
        env |= {checkout.USERNAME: DEPLOY[0], checkout.TOKEN: token}
    return make_spec(
        job_id,
        command=["python", "train.py"],
        source={"git": url, "ref": "main", "commit": commit},
        env=env,
        time_limit_seconds=120,
    )


def test_a_local_job_runs_in_a_checkout_of_its_commit(local, public_git, settings):
    server, repo = public_git
    local.submit(local_spec(51, server.url("lab"), repo.commits["main"]))
    status = local.wait(51, 120)
    lines = local.logs(51, "genomics")
    assert status.phase == "succeeded", (status.reason, lines)
    workspace = settings.VAR_DIR / "jobs" / "51" / "workspace"
    assert f"trained from git in {workspace}" in lines
    assert f"taller: checked out {repo.commits['main']}" in lines
    assert (workspace / "train.py").exists() and not (workspace / "FEATURE").exists()


def test_a_local_job_from_a_private_repository_never_sees_the_token(local, private_git):
    server, repo = private_git
    local.submit(local_spec(52, server.url("secret-lab"), repo.commits["feature"], token=DEPLOY[1]))
    status = local.wait(52, 120)
    lines = local.logs(52, "genomics")
    assert status.phase == "succeeded", (status.reason, lines)
    assert "token seen: False" in lines
    assert not any(DEPLOY[1] in line for line in lines)


@pytest.mark.parametrize("case", ["no credential", "no such commit"])
def test_a_clone_that_fails_fails_the_job_naming_the_step(local, private_git, public_git, case):
    if case == "no credential":
        server, repo = private_git
        spec = local_spec(53, server.url("secret-lab"), repo.commits["main"])
    else:
        server, _repo = public_git
        spec = local_spec(53, server.url("lab"), "f" * 40)
    local.submit(spec)
    status = local.wait(53, 120)
    assert status.phase == "failed"
    assert status.reason.startswith("clone failed (exit code"), status.reason
    lines = local.logs(53, "genomics")
    assert any(line.startswith("taller: fetching") for line in lines)  # the step's log is the job's
    assert not any("trained from git" in line for line in lines)
