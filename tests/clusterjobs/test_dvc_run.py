"""A job's DVC data where it runs. On Kubernetes: a second init container after the clone pulls
them into /workspace, the remote's key pair only from the job's Secret (manifests validated against
the published schema and created on the test API server). On the local executor: after the checkout of its commit, the
runner's "pull" step runs the real `dvc pull` of its targets from the project's remote (a folder
under var/, as on the embedded default; an S3-compatible server in the test), the key pair only
for that step; a pull that fails ends the job failed, naming the step, with the step's log.

End to end: a job submitted through the API with DVC targets, run by a real Celery worker and
followed by the watcher, reads the pulled files; its MLflow run has the DVC inputs as datasets."""

import json

import pytest
import requests
from rest_framework.test import APIClient

from clusterjobs import dispatch, project_ready
from clusterjobs.backends.kubernetes import job_manifest, secret_manifest
from clusterjobs.backends.kubernetes.status import job_status
from clusterjobs.models import Job, JobStatus
from clusterjobs.sources import pull, remotes

from .conftest import assert_valid, make_spec
from .dvcrepo import KEYS, TRAIN_CSV
from .factories import JobFactory
from .test_dvc import BUCKET
from .test_end_to_end import watcher  # noqa: F401 - the watch_jobs loop, as a fixture
from .watching import wait_for

# ---- Kubernetes: the pull init container -------------------------------------------------------

COMMIT = "0123456789abcdef0123456789abcdef01234567"
SOURCE = {
    "git": "https://git.example.edu/lab/train.git",
    "ref": "main",
    "commit": COMMIT,
    "dvc": ["data/train.csv"],
    "data": [
        {
            "target": "data/train.csv",
            "path": "data/train.csv",
            "md5": "a" * 32,
            "size": 9,
            "layout": "files/md5",
        }
    ],
}


def dvc_spec(job_id: int = 42, **changes):
    env = {
        "SEED": "7",
        "MLFLOW_TRACKING_TOKEN": "tlr_x",
        pull.REMOTE: "s3://lab-data/genomics",
        pull.ENDPOINT: "https://s3.example.edu",
        pull.ACCESS_KEY_ID: KEYS[0],
        pull.SECRET_ACCESS_KEY: KEYS[1],
    }
    secret = ("MLFLOW_TRACKING_TOKEN", pull.ACCESS_KEY_ID, pull.SECRET_ACCESS_KEY)
    return make_spec(job_id, source=SOURCE, env=env, secret_names=secret, **changes)


def test_the_pull_init_container_runs_after_the_clone_with_the_keys_from_the_secret():
    manifest = job_manifest(dvc_spec(), dvc_image="registry.example.edu/tools/dvc:3", volumes=["shared-data"])
    assert_valid(manifest)
    pod = manifest["spec"]["template"]["spec"]
    clone, data = pod["initContainers"]
    (main,) = pod["containers"]
    assert (clone["name"], data["name"]) == ("source", "data")
    assert data["image"] == "registry.example.edu/tools/dvc:3"
    assert data["command"] == ["sh", "-c", pull.PULL_SCRIPT, "taller-pull", "data/train.csv"]
    assert data["workingDir"] == "/workspace" and data["securityContext"] == main["securityContext"]
    assert {"name": "workspace", "mountPath": "/workspace"} in data["volumeMounts"]
    assert {"name": "data-0", "mountPath": "/data/shared-data", "readOnly": True} in data["volumeMounts"]
    assert data["env"] == [
        {"name": "HOME", "value": "/tmp"},
        {"name": "TMPDIR", "value": "/tmp"},
        {"name": pull.REMOTE, "value": "s3://lab-data/genomics"},
        {"name": pull.ENDPOINT, "value": "https://s3.example.edu"},
        *(
            {"name": name, "valueFrom": {"secretKeyRef": {"name": "taller-42", "key": name}}}
            for name in (pull.ACCESS_KEY_ID, pull.SECRET_ACCESS_KEY)
        ),
    ]
    # Neither the training container nor the clone gets the remote's keys; the Job carries none.
    assert not [e for e in main["env"] + clone["env"] if e["name"].startswith("TALLER_DVC_")]
    assert KEYS[1] not in json.dumps(manifest) and KEYS[0] not in json.dumps(manifest)
    assert secret_manifest(dvc_spec(), owner_uid="u")["stringData"][pull.SECRET_ACCESS_KEY] == KEYS[1]


def test_a_job_without_targets_has_no_pull_container():
    source = {key: value for key, value in SOURCE.items() if key not in {"dvc", "data"}}
    pod = job_manifest(make_spec(source=source))["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == ["source"]


def test_the_cluster_creates_it_and_only_the_pull_container_reads_the_keys(cluster, settings):
    settings.TALLER_DVC_IMAGE = "iterativeai/cml:0-dvc3-base1"
    cluster.backend.submit(dvc_spec())
    job = cluster.api.get("jobs", "taller-genomics", "taller-42")
    assert KEYS[1] not in json.dumps(job)
    assert job["spec"]["template"]["spec"]["initContainers"][1]["image"] == "iterativeai/cml:0-dvc3-base1"
    secret = cluster.api.get("secrets", "taller-genomics", "taller-42")
    assert sorted(secret["data"]) == ["MLFLOW_TRACKING_TOKEN", pull.ACCESS_KEY_ID, pull.SECRET_ACCESS_KEY]
    assert pull.SECRET_ACCESS_KEY not in cluster.api.container_env("taller-genomics", "taller-42")


def test_a_failed_pull_fails_the_job_naming_the_step_with_its_log():
    job = {
        "metadata": {"name": "taller-42", "namespace": "taller-genomics"},
        "status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]},
    }
    message = "taller: pulling data/train.csv from s3://lab-data/genomics\nERROR: failed to pull data from the cloud\n"
    pod = {
        "metadata": {"name": "taller-42-abc", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "status": {
            "phase": "Failed",
            "initContainerStatuses": [
                {"name": "source", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                {
                    "name": "data",
                    "state": {"terminated": {"exitCode": 1, "reason": "Error", "message": message}},
                },
            ],
            "containerStatuses": [{"name": "main", "state": {"waiting": {"reason": "PodInitializing"}}}],
        },
    }
    status = job_status(42, job, [pod])
    assert status.phase == "failed"
    assert status.reason.startswith("pull failed (exit code 1): taller: pulling data/train.csv")
    assert "failed to pull data from the cloud" in status.reason


@pytest.mark.django_db
def test_dispatch_hands_the_remote_to_the_pull_alone(cluster, personas, settings):
    remotes.set_remote(personas.alice, personas.project, **BUCKET)
    project_ready.forget_project_ready(cluster.backend, "genomics")
    job = JobFactory(
        project=personas.project, submitter=personas.bob, status=JobStatus.DISPATCHING, source=SOURCE
    )
    assert dispatch.dispatch(job.pk) == "submitted"
    project_ready.forget_project_ready(cluster.backend, "genomics")
    created = cluster.api.get("jobs", "taller-genomics", f"taller-{job.pk}")
    assert KEYS[1] not in json.dumps(created)
    assert pull.SECRET_ACCESS_KEY in cluster.api.get("secrets", "taller-genomics", f"taller-{job.pk}")["data"]
    assert pull.SECRET_ACCESS_KEY not in cluster.api.container_env("taller-genomics", f"taller-{job.pk}")


# ---- the local executor ------------------------------------------------------------------------

READ = [
    "python",
    "-c",
    "import os; print('read:', open('data/train.csv').read().splitlines()[-1]); "
    "print('keys seen:', any(n.startswith(('TALLER_DVC_ACCESS', 'AWS_')) for n in os.environ))",
]


def local_spec(job_id: int, repo, env: dict, targets=("data/train.csv",)):
    return make_spec(
        job_id,
        command=READ,
        source={"git": repo.url, "ref": "main", "commit": repo.commit, "dvc": list(targets)},
        env=env,
        time_limit_seconds=300,
    )


def test_a_local_job_pulls_its_data_from_the_portals_folder(local, dvc_git, settings):
    _server, repo = dvc_git
    folder = settings.VAR_DIR / "dvc" / "genomics"
    repo.push(str(folder))
    local.submit(local_spec(61, repo, {pull.REMOTE: str(folder)}, targets=("data/train.csv", "prepare")))
    status = local.wait(61, 240)
    lines = local.logs(61, "genomics")
    assert status.phase == "succeeded", (status.reason, lines)
    assert "read: 5,6" in lines and "keys seen: False" in lines
    workspace = settings.VAR_DIR / "jobs" / "61" / "workspace"
    assert (workspace / "data" / "train.csv").read_text() == TRAIN_CSV
    assert (workspace / "data" / "prepared.csv").read_text() == TRAIN_CSV
    assert any(line.startswith("taller: pulling data/train.csv prepare from") for line in lines)
    assert not (workspace / ".dvc" / "config.local").exists()


def test_a_local_job_pulls_from_an_s3_compatible_server_with_the_keys_for_the_pull_alone(local, dvc_git, s3):
    _server, repo = dvc_git
    repo.push("s3://lab-data/genomics", endpoint=s3)
    env = {
        pull.REMOTE: "s3://lab-data/genomics",
        pull.ENDPOINT: s3,
        pull.ACCESS_KEY_ID: KEYS[0],
        pull.SECRET_ACCESS_KEY: KEYS[1],
    }
    local.submit(local_spec(62, repo, env))
    status = local.wait(62, 240)
    lines = local.logs(62, "genomics")
    assert status.phase == "succeeded", (status.reason, lines)
    assert "read: 5,6" in lines and "keys seen: False" in lines
    assert not any(KEYS[1] in line for line in lines)


def test_a_pull_the_remote_refuses_fails_the_job_naming_the_step_with_its_log(local, dvc_git, s3):
    _server, repo = dvc_git  # nothing pushed, and a bucket the server does not have
    env = {pull.REMOTE: "s3://no-such-bucket/genomics", pull.ENDPOINT: s3}
    local.submit(local_spec(63, repo, env))
    status = local.wait(63, 240)
    lines = local.logs(63, "genomics")
    assert status.phase == "failed", lines
    assert status.reason.startswith("pull failed (exit code 1):"), status.reason
    assert any(line.startswith("taller: pulling data/train.csv from s3://no-such-bucket") for line in lines)
    assert any("ERROR" in line for line in lines)  # dvc's own words, in the job's log
    assert not any(line.startswith("read:") for line in lines)


@pytest.mark.slow
@pytest.mark.usefixtures("watcher")
@pytest.mark.django_db(transaction=True)
def test_a_job_with_dvc_targets_runs_and_its_run_records_the_data(
    personas, settings, mlflow_uri, celery_worker, dvc_git, s3
):
    settings.TALLER_EXECUTOR = "local"
    settings.TALLER_JOB_TRACKING_URI = mlflow_uri
    settings.TALLER_LOCAL_POLL_SECONDS = 0.2
    server, repo = dvc_git
    repo.push("s3://lab-data/genomics", endpoint=s3)
    remotes.set_remote(
        personas.alice,
        personas.project,
        kind="s3",
        url="s3://lab-data/genomics",
        endpoint_url=s3,
        access_key_id=KEYS[0],
        secret_access_key=KEYS[1],
    )
    client = APIClient()
    client.force_authenticate(personas.bob)
    body = {
        "project": "genomics",
        "name": "with data",
        "command": ["python", "train.py"],
        "source": {
            "git": server.url("data-lab"),
            "ref": "main",
            "dvc": ["data/train.csv", "data/prepared.csv"],
        },
        "resources": {"cpu": "1", "memory_mib": 1024},
        "time_limit_minutes": 10,
    }
    missing = client.post(
        "/api/v1/jobs/", {**body, "source": {**body["source"], "dvc": ["data/nope.csv"]}}, format="json"
    )
    assert missing.status_code == 400 and "data/nope.csv is not tracked" in missing.json()["source"][0]
    response = client.post("/api/v1/jobs/", body, format="json")
    assert response.status_code == 201, response.json()
    pk = response.json()["id"]
    done = wait_for(lambda: Job.objects.get(pk=pk).is_terminal() and Job.objects.get(pk=pk), 300, "the job")

    assert done.status == JobStatus.SUCCEEDED, (done.status_reason, done.final_log)
    assert "read 16 bytes of data/train.csv: 1,2" in done.final_log and "prepared: 5,6" in done.final_log
    assert KEYS[1] not in done.final_log
    run = requests.get(
        f"{mlflow_uri}/api/2.0/mlflow/runs/get", params={"run_id": done.mlflow_run_id}, timeout=10
    ).json()["run"]
    assert {m["key"]: m["value"] for m in run["data"]["metrics"]} == {"rows": 3.0}
    datasets = {i["dataset"]["name"]: i["dataset"] for i in run["inputs"]["dataset_inputs"]}
    assert sorted(datasets) == ["data/prepared.csv", "data/train.csv"]
    for path, dataset in datasets.items():
        md5 = repo.pins[path]["md5"]
        assert dataset["digest"] == md5
        assert json.loads(dataset["source"])["uri"] == f"s3://lab-data/genomics/files/md5/{md5[:2]}/{md5[2:]}"
        assert json.loads(dataset["profile"])["size"] == repo.pins[path]["size"]


def test_a_remote_removed_since_submission_fails_the_pull_saying_so(local, dvc_git):
    _server, repo = dvc_git
    local.submit(local_spec(64, repo, {}))
    status = local.wait(64, 240)
    assert status.phase == "failed"
    assert status.reason == (
        "pull failed (exit code 1): taller: the project has no DVC remote (removed since the job was submitted?)"
    )
