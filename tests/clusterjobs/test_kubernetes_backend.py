"""KubernetesBackend through the real `kubernetes` client against the test API server."""

import json
import threading
from decimal import Decimal

import pytest
from kubernetes import client, config

from clusterjobs.backends import get_backend
from clusterjobs.backends.base import BackendError, ProjectLimits
from clusterjobs.backends.kubernetes import KubernetesBackend

from .conftest import assert_valid, make_spec

NS = "taller-genomics"


def raw_api(cluster) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(cluster.kubeconfig))


def test_get_backend_selects_kubernetes(cluster):
    assert isinstance(get_backend("kubernetes"), KubernetesBackend)


def test_submit_creates_the_namespace_on_first_use_then_the_job(cluster):
    spec = make_spec()

    cluster.backend.submit(spec)

    namespace = cluster.api.get("namespaces", "", NS)
    assert namespace["metadata"]["labels"]["taller.io/project"] == "genomics"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    job = cluster.api.get("jobs", NS, "taller-42")
    assert (
        job["metadata"]["uid"] and job["metadata"]["resourceVersion"] and job["metadata"]["creationTimestamp"]
    )
    assert job["metadata"]["annotations"] == {"taller.io/uid": "uid-42"}
    assert job["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {
        "cpu": "1500m",
        "memory": "2048Mi",
    }
    posts = [path for method, path in cluster.api.requests if method == "POST"]
    assert posts == [
        f"/apis/batch/v1/namespaces/{NS}/jobs",
        "/api/v1/namespaces",
        f"/apis/batch/v1/namespaces/{NS}/jobs",
    ]
    # The second job in the same project does not touch the namespace.
    cluster.backend.submit(make_spec(43))
    assert [p for m, p in cluster.api.requests if m == "POST"][3:] == [f"/apis/batch/v1/namespaces/{NS}/jobs"]


def test_duplicated_submit_creates_one_job(cluster):
    spec = make_spec(gpus=1, gpu_type="T4")
    cluster.backend.submit(spec)
    cluster.backend.submit(spec)  # a retried dispatch

    assert [job["metadata"]["name"] for job in cluster.api.items("jobs")] == ["taller-42"]
    assert len(cluster.api.items("pods", NS)) == 1


def test_concurrent_duplicated_submits_create_one_job(cluster):
    spec = make_spec()
    errors = []

    def submit():
        try:
            cluster.backend.submit(spec)
        except BackendError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(cluster.api.items("jobs")) == 1


def test_existing_job_with_another_uid_is_a_permanent_error(cluster):
    cluster.backend.submit(make_spec(uid="first-uid"))

    with pytest.raises(BackendError) as raised:
        cluster.backend.submit(make_spec(uid="second-uid"))

    assert raised.value.permanent
    assert "already exists" in str(raised.value) and "first-uid" in str(raised.value)
    assert cluster.api.get("jobs", NS, "taller-42")["metadata"]["annotations"]["taller.io/uid"] == "first-uid"


def test_existing_job_with_other_labels_is_a_permanent_error(cluster):
    cluster.backend.submit(make_spec())
    cluster.api.update_status(
        "jobs", NS, "taller-42", lambda job: job["metadata"]["labels"].update({"taller.io/job": "7"})
    )

    with pytest.raises(BackendError) as raised:
        cluster.backend.submit(make_spec())
    assert raised.value.permanent


def test_invalid_manifest_is_a_permanent_error_with_the_servers_message(cluster):
    with pytest.raises(BackendError) as raised:
        cluster.backend.submit(make_spec(image=""))

    assert raised.value.permanent
    assert 'Job.batch "taller-42" is invalid: spec.template.spec.containers[0].image: Required value' in str(
        raised.value
    )
    assert cluster.api.items("jobs") == []


def test_bad_project_name_is_refused_by_the_server_as_a_permanent_error(cluster):
    with pytest.raises(BackendError) as raised:
        cluster.backend.submit(make_spec(project="Gen_Omics"))

    assert raised.value.permanent
    assert (
        'Namespace "taller-Gen_Omics" is invalid: metadata.name: Invalid value: "taller-Gen_Omics": a lowercase RFC 1123 label'
        in str(raised.value)
    )


def test_server_refuses_what_the_builders_never_send(cluster):
    """The test server answers as a real one to manifests the portal must not build."""
    cluster.backend.submit(make_spec())
    batch = client.BatchV1Api(raw_api(cluster))
    manifest = cluster.backend.manifest(make_spec(99, gpus=1))
    resources = manifest["spec"]["template"]["spec"]["containers"][0]["resources"]

    resources["limits"]["nvidia.com/gpu"] = "2"
    with pytest.raises(client.ApiException) as raised:
        batch.create_namespaced_job(NS, manifest)
    assert raised.value.status == 422
    assert (
        'resources.requests: Invalid value: "1": must be equal to nvidia.com/gpu limit of 2'
        in json.loads(raised.value.body)["message"]
    )

    resources["limits"]["nvidia.com/gpu"] = resources["requests"]["nvidia.com/gpu"] = "500m"
    with pytest.raises(client.ApiException) as raised:
        batch.create_namespaced_job(NS, manifest)
    assert (
        'resources.requests[nvidia.com/gpu]: Invalid value: "500m": must be an integer'
        in json.loads(raised.value.body)["message"]
    )

    manifest["metadata"]["name"] = "Taller_99"
    with pytest.raises(client.ApiException) as raised:
        batch.create_namespaced_job(NS, manifest)
    assert (
        'metadata.name: Invalid value: "Taller_99": a lowercase RFC 1123 subdomain'
        in json.loads(raised.value.body)["message"]
    )


def test_exceeded_object_count_quota_is_retryable_with_the_message(cluster):
    cluster.backend.submit(make_spec(1))
    core = client.CoreV1Api(raw_api(cluster))
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "taller-quota", "namespace": NS},
        "spec": {"hard": {"count/jobs.batch": "1"}},
    }
    assert_valid(quota)
    core.create_namespaced_resource_quota(NS, quota)

    with pytest.raises(BackendError) as raised:
        cluster.backend.submit(make_spec(2))

    assert not raised.value.permanent
    assert (
        'jobs.batch "taller-2" is forbidden: exceeded quota: taller-quota, requested: count/jobs.batch=1, '
        "used: count/jobs.batch=1, limited: count/jobs.batch=1"
    ) in str(raised.value)


@pytest.mark.parametrize("code", [500, 503, 504])
def test_server_errors_are_retryable(cluster, code):
    cluster.api.fail_next.append((code, "etcdserver: request timed out"))

    with pytest.raises(BackendError) as raised:
        cluster.backend.submit(make_spec())

    assert not raised.value.permanent
    assert "etcdserver: request timed out" in str(raised.value)
    cluster.backend.submit(make_spec())  # the retry succeeds
    assert len(cluster.api.items("jobs")) == 1


def test_unreachable_cluster_is_retryable(cluster, k8s_api):
    k8s_api.stop()

    with pytest.raises(BackendError) as raised:
        cluster.backend.submit(make_spec())

    assert not raised.value.permanent
    assert "did not answer" in str(raised.value)


def test_cancel_deletes_the_job_and_its_pods_and_tolerates_a_missing_job(cluster):
    cluster.backend.submit(make_spec())
    assert cluster.api.pods_of(NS, "taller-42")

    cluster.backend.cancel(42, "genomics")

    assert cluster.api.get("jobs", NS, "taller-42") is None
    assert cluster.api.pods_of(NS, "taller-42") == []
    assert ("DELETE", f"/apis/batch/v1/namespaces/{NS}/jobs/taller-42?propagationPolicy=Background") in (
        cluster.api.requests
    )
    cluster.backend.cancel(42, "genomics")  # already gone: fine
    cluster.backend.cancel(42, "never-used")  # no namespace either


def test_logs_tail_of_the_jobs_pod(cluster):
    assert cluster.backend.logs(42, "genomics") == []  # no namespace, no pod
    cluster.backend.submit(make_spec())
    assert cluster.backend.logs(42, "genomics", tail=10) == []  # container not started yet

    cluster.api.set_log(NS, "taller-42", "".join(f"epoch {i} loss {1 / (i + 1):.3f}\n" for i in range(50)))

    assert cluster.backend.logs(42, "genomics", tail=2) == ["epoch 48 loss 0.020", "epoch 49 loss 0.020"]
    assert len(cluster.backend.logs(42, "genomics")) == 50


def test_the_whole_log_of_the_jobs_pod_streams_in_pieces(cluster):
    assert list(cluster.backend.log_chunks(42, "genomics")) == []  # no namespace, no pod
    cluster.backend.submit(make_spec())
    assert list(cluster.backend.log_chunks(42, "genomics")) == []  # container not started yet
    text = "".join(f"epoch {i} {'x' * 100}\n" for i in range(2000))  # larger than one piece
    cluster.api.set_log(NS, "taller-42", text)

    pieces = list(cluster.backend.log_chunks(42, "genomics"))
    assert len(pieces) > 1 and b"".join(pieces).decode() == text


def test_ensure_project_creates_then_updates_quota_and_limits(cluster):
    limits = ProjectLimits(
        "genomics",
        max_gpus=2,
        max_cpu=Decimal(16),
        max_memory_mib=65536,
        max_running_jobs=3,
        max_time_limit_minutes=600,
    )

    cluster.backend.ensure_project(limits)

    quota = cluster.api.get("resourcequotas", NS, "taller-quota")
    assert quota["spec"]["hard"] == {
        "requests.cpu": "16",
        "limits.cpu": "16",
        "requests.memory": "65536Mi",
        "limits.memory": "65536Mi",
        "requests.nvidia.com/gpu": "2",
        "pods": "3",
    }
    limit_range = cluster.api.get("limitranges", NS, "taller-limits")
    assert limit_range["spec"]["limits"][0]["max"] == {"cpu": "16", "memory": "65536Mi"}
    assert cluster.api.get("namespaces", "", NS)["metadata"]["labels"]["taller.io/project"] == "genomics"
    for stored in (quota, limit_range):
        assert_valid({k: v for k, v in stored.items() if k != "status"})

    # Again with the same limits: nothing is written.
    writes = len([m for m, _p in cluster.api.requests if m in ("POST", "PUT")])
    cluster.backend.ensure_project(limits)
    assert [m for m, _p in cluster.api.requests if m == "PUT"] == []
    assert len([m for m, _p in cluster.api.requests if m in ("POST", "PUT")]) == writes + 3  # three 409s

    # A changed quota replaces both objects.
    cluster.backend.ensure_project(
        ProjectLimits(
            "genomics",
            max_gpus=0,
            max_cpu=Decimal("4.5"),
            max_memory_mib=8192,
            max_running_jobs=1,
            max_time_limit_minutes=60,
        )
    )
    quota = cluster.api.get("resourcequotas", NS, "taller-quota")
    assert quota["spec"]["hard"]["requests.cpu"] == "4500m"
    assert quota["spec"]["hard"]["requests.nvidia.com/gpu"] == "0"
    assert quota["spec"]["hard"]["pods"] == "1"
    assert quota["metadata"]["generation"] == 2
    assert cluster.api.get("limitranges", NS, "taller-limits")["spec"]["limits"][0]["max"] == {
        "cpu": "4500m",
        "memory": "8192Mi",
    }


def test_namespace_quota_refuses_the_pod_and_the_job_says_why(cluster):
    cluster.backend.ensure_project(
        ProjectLimits(
            "genomics",
            max_gpus=0,
            max_cpu=Decimal(2),
            max_memory_mib=4096,
            max_running_jobs=1,
            max_time_limit_minutes=60,
        )
    )
    cluster.backend.submit(make_spec(1, cpu=Decimal(1), memory_mib=1024))
    cluster.backend.submit(make_spec(2, cpu=Decimal(1), memory_mib=1024))

    status = cluster.backend.status(2, "genomics")

    assert status.phase == "pending"
    assert status.reason == (
        "the cluster did not create the pod: exceeded quota: taller-quota, requested: pods=1, used: pods=1, limited: pods=1"
    )


def test_unreadable_kubeconfig_is_a_clear_retryable_error(cluster, settings, tmp_path):
    settings.TALLER_KUBECONFIG = str(tmp_path / "missing.yaml")

    with pytest.raises(BackendError) as raised:
        cluster.backend.submit(make_spec())
    assert not raised.value.permanent
    with pytest.raises(BackendError):
        next(cluster.backend.watch(threading.Event()))
