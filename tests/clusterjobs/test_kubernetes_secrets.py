"""A job's token and secret variables reach its pod from a Secret owned by its Job, never as plain
values in the Job spec (which anyone who may read Jobs or Pods in the namespace can read): the
manifests, validated against the published schema, and the backend against the test API server
(which plays the garbage collector: deleting a Job deletes the Secret it owns)."""

import base64
import json

import pytest

from clusterjobs.backends.base import BackendError
from clusterjobs.backends.kubernetes import job_manifest, secret_manifest

from .conftest import assert_valid, make_spec

NS = "taller-genomics"
TOKEN = "tlr_a-job-token-value"
SECRET = "hunter2-secret-value"


def secret_spec(job_id: int = 42, token: str = TOKEN):
    env = {"MLFLOW_RUN_ID": "abc123", "SEED": "7", "API_KEY": SECRET, "MLFLOW_TRACKING_TOKEN": token}
    return make_spec(job_id, env=env, secret_names=("API_KEY", "MLFLOW_TRACKING_TOKEN"))


def test_no_env_entry_of_the_job_carries_a_secret_value():
    spec = secret_spec()
    manifest = job_manifest(spec)
    assert_valid(manifest)
    env = manifest["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [
        {"name": "MLFLOW_RUN_ID", "value": "abc123"},
        {"name": "SEED", "value": "7"},
        {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "taller-42", "key": "API_KEY"}}},
        {
            "name": "MLFLOW_TRACKING_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": "taller-42", "key": "MLFLOW_TRACKING_TOKEN"}},
        },
    ]
    for entry in env:
        assert not (entry["name"] in spec.secret_names and "value" in entry), entry
    text = json.dumps(manifest)
    assert SECRET not in text and TOKEN not in text


def test_the_secret_manifest_exactly():
    manifest = secret_manifest(secret_spec(), owner_uid="0b5c-job-uid")
    assert_valid(manifest)
    assert manifest == {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": "taller-42",
            "namespace": NS,
            "labels": {
                "taller.io/job": "42",
                "taller.io/project": "genomics",
                "app.kubernetes.io/managed-by": "taller",
            },
            "annotations": {"taller.io/uid": "uid-42"},
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": "taller-42",
                    "uid": "0b5c-job-uid",
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "stringData": {"API_KEY": SECRET, "MLFLOW_TRACKING_TOKEN": TOKEN},
    }


def test_submit_puts_the_secret_values_in_a_secret_owned_by_the_job(cluster):
    cluster.backend.submit(secret_spec())

    job = cluster.api.get("jobs", NS, "taller-42")
    secret = cluster.api.get("secrets", NS, "taller-42")
    assert SECRET not in json.dumps(job) and TOKEN not in json.dumps(job)
    for pod in cluster.api.pods_of(NS, "taller-42"):
        assert SECRET not in json.dumps(pod) and TOKEN not in json.dumps(pod)
    (owner,) = secret["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("Job", "taller-42", job["metadata"]["uid"])
    assert base64.b64decode(secret["data"]["MLFLOW_TRACKING_TOKEN"]).decode() == TOKEN
    env = cluster.api.container_env(NS, "taller-42")  # what the container gets
    assert (env["API_KEY"], env["MLFLOW_TRACKING_TOKEN"], env["SEED"]) == (SECRET, TOKEN, "7")


def test_cancel_leaves_no_secret(cluster):
    cluster.backend.submit(secret_spec())
    cluster.backend.submit(secret_spec(43))

    cluster.backend.cancel(42, "genomics")

    assert cluster.api.get("secrets", NS, "taller-42") is None
    assert cluster.api.get("secrets", NS, "taller-43") is not None  # another job's stays


def test_a_retried_submit_gives_the_job_the_newest_token(cluster):
    cluster.backend.submit(secret_spec())
    newer = secret_spec(token="tlr_newer")
    cluster.backend.submit(newer)

    assert [secret["metadata"]["name"] for secret in cluster.api.items("secrets")] == ["taller-42"]
    assert len(cluster.api.items("jobs")) == 1
    assert cluster.api.container_env(NS, "taller-42")["MLFLOW_TRACKING_TOKEN"] == "tlr_newer"


def test_a_job_recreated_under_its_name_owns_its_secret_again(cluster):
    """The Job was deleted behind the portal's back and dispatch creates it again: the Secret
    (here left over, as while the garbage collector has not caught up) follows the new Job."""
    cluster.backend.submit(secret_spec())
    with cluster.api.lock:
        cluster.api.objects["jobs"].pop((NS, "taller-42"))  # gone, without collecting its Secret
    cluster.backend.submit(secret_spec())

    job = cluster.api.get("jobs", NS, "taller-42")
    secret = cluster.api.get("secrets", NS, "taller-42")
    assert secret["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]


def test_a_secret_of_that_name_that_is_not_this_jobs_is_a_permanent_error(cluster):
    cluster.backend.submit(secret_spec())
    with cluster.api.lock:
        secret = cluster.api.objects["secrets"][(NS, "taller-42")]
        secret["metadata"]["annotations"]["taller.io/uid"] = "someone-else"
        secret["metadata"]["ownerReferences"][0]["uid"] = "their-owner"
        secret["data"] = {"API_KEY": base64.b64encode(b"theirs").decode()}

    with pytest.raises(BackendError) as raised:
        cluster.backend.submit(secret_spec())

    assert raised.value.permanent
    assert "a different Secret named taller-42" in str(raised.value)
    # Their Secret stays; this job's Job, which could never start without its own, is gone.
    assert cluster.api.get("jobs", NS, "taller-42") is None
    assert (
        cluster.api.get("secrets", NS, "taller-42")["data"]["API_KEY"] == base64.b64encode(b"theirs").decode()
    )


@pytest.mark.django_db
def test_dispatch_puts_the_token_and_the_secret_variables_in_the_secret(cluster, personas, settings):
    """From the job as submitted: its secret variables and the token dispatch hands it are the
    Secret's; its other variables stay plain values."""
    from clusterjobs import dispatch, project_ready
    from clusterjobs.models import JobStatus
    from portal.accounts.actions import authenticate_token

    from .factories import JobFactory

    settings.TALLER_JOB_TRACKING_URI = "https://portal.example.edu/mlflow"
    project_ready.forget_project_ready(cluster.backend, "genomics")
    job = JobFactory(
        project=personas.project,
        submitter=personas.bob,
        status=JobStatus.DISPATCHING,
        env={"SEED": "1", "API_KEY": SECRET},
        secret_env_names=["API_KEY"],
        mlflow_run_id="run1",
        mlflow_experiment_id="7",
    )
    assert dispatch.dispatch(job.pk) == "submitted"
    project_ready.forget_project_ready(cluster.backend, "genomics")

    name = f"taller-{job.pk}"
    created = cluster.api.get("jobs", NS, name)
    plain = {
        entry["name"]: entry["value"]
        for entry in created["spec"]["template"]["spec"]["containers"][0]["env"]
        if "value" in entry
    }
    assert "API_KEY" not in plain and "MLFLOW_TRACKING_TOKEN" not in plain
    assert plain["SEED"] == "1" and plain["MLFLOW_RUN_ID"] == "run1"
    assert sorted(cluster.api.get("secrets", NS, name)["data"]) == ["API_KEY", "MLFLOW_TRACKING_TOKEN"]
    env = cluster.api.container_env(NS, name)
    assert env["API_KEY"] == SECRET
    job.refresh_from_db()
    assert authenticate_token(env["MLFLOW_TRACKING_TOKEN"]) == job.mlflow_token
    assert SECRET not in json.dumps(created) and job.mlflow_token.prefix not in json.dumps(created)


def test_a_refused_secret_leaves_no_job_waiting_for_it(cluster):
    """The cluster refuses the Secret for good (here a key it does not accept): the Job created
    just before would hold a pod waiting for it until its deadline, so it is deleted too."""
    spec = make_spec(env={"SEED": "7", "BAD@KEY": SECRET}, secret_names=("BAD@KEY",))

    with pytest.raises(BackendError) as raised:
        cluster.backend.submit(spec)

    assert raised.value.permanent and "creating Secret taller-42" in str(raised.value)
    assert cluster.api.get("jobs", NS, "taller-42") is None
    assert cluster.api.pods_of(NS, "taller-42") == []
    assert cluster.api.items("secrets") == []


def test_a_job_refused_for_good_is_not_deleted_when_it_was_not_ours(cluster):
    """Only the Secret step cleans up: a name taken by another Job stays as it is."""
    cluster.backend.submit(secret_spec())
    with cluster.api.lock:
        cluster.api.objects["jobs"][(NS, "taller-42")]["metadata"]["annotations"]["taller.io/uid"] = "theirs"

    with pytest.raises(BackendError) as raised:
        cluster.backend.submit(secret_spec())

    assert raised.value.permanent and "a different Job named taller-42" in str(raised.value)
    assert cluster.api.get("jobs", NS, "taller-42") is not None
