"""The manifests the portal builds, asserted exactly and validated against the published schema."""

from decimal import Decimal

import kubernetes_validate
import pytest
from django.core.exceptions import ImproperlyConfigured

from clusterjobs.backends.base import ProjectLimits
from clusterjobs.backends.kubernetes import (
    cpu_quantity,
    job_manifest,
    limit_range_manifest,
    namespace_manifest,
    resource_quota_manifest,
)
from portal.settings import envmapping

from .conftest import assert_valid, make_spec

LABELS = {"taller.io/job": "42", "taller.io/project": "genomics", "app.kubernetes.io/managed-by": "taller"}
RESTRICTED_CONTAINER = {
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
BASE_MOUNTS = [{"name": "scratch", "mountPath": "/scratch"}, {"name": "dshm", "mountPath": "/dev/shm"}]
BASE_VOLUMES = [{"name": "scratch", "emptyDir": {}}, {"name": "dshm", "emptyDir": {"medium": "Memory"}}]


def test_cpu_only_job_manifest_exactly():
    manifest = job_manifest(make_spec(), ttl_seconds=600, run_as_user=1234)

    assert manifest == {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "taller-42",
            "namespace": "taller-genomics",
            "labels": LABELS,
            "annotations": {"taller.io/uid": "uid-42"},
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": 5400,
            "ttlSecondsAfterFinished": 600,
            "template": {
                "metadata": {"labels": LABELS, "annotations": {"taller.io/uid": "uid-42"}},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 1234,
                        "runAsGroup": 1234,
                        "fsGroup": 1234,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "main",
                            "image": "registry.example.edu/ml/train:1.0",
                            "command": ["python", "train.py", "--epochs", "3"],
                            "terminationMessagePolicy": "FallbackToLogsOnError",
                            "env": [
                                {"name": "MLFLOW_RUN_ID", "value": "abc123"},
                                {"name": "SEED", "value": "7"},
                            ],
                            "resources": {
                                "requests": {"cpu": "1500m", "memory": "2048Mi"},
                                "limits": {"cpu": "1500m", "memory": "2048Mi"},
                            },
                            "securityContext": RESTRICTED_CONTAINER,
                            "volumeMounts": BASE_MOUNTS,
                        }
                    ],
                    "volumes": BASE_VOLUMES,
                },
            },
        },
    }
    assert_valid(manifest)


def test_gpu_job_with_type_requests_equal_limits_and_selects_the_product():
    spec = make_spec(
        gpus=2, gpu_type="NVIDIA-A100-SXM4-80GB", cpu=Decimal(8), memory_mib=65536, backoff_limit=2
    )

    manifest = job_manifest(spec, gpu_label="nvidia.com/gpu.product")

    pod = manifest["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"] == {
        "requests": {"cpu": "8", "memory": "65536Mi", "nvidia.com/gpu": "2"},
        "limits": {"cpu": "8", "memory": "65536Mi", "nvidia.com/gpu": "2"},
    }
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    assert manifest["spec"]["backoffLimit"] == 2
    assert_valid(manifest)


def test_gpu_job_without_type_has_no_node_selector_and_label_key_is_configurable():
    assert "nodeSelector" not in job_manifest(make_spec(gpus=1))["spec"]["template"]["spec"]
    typed = job_manifest(make_spec(gpus=1, gpu_type="T4"), gpu_label="example.edu/gpu-model")
    assert typed["spec"]["template"]["spec"]["nodeSelector"] == {"example.edu/gpu-model": "T4"}
    assert_valid(typed)


def test_project_volumes_are_mounted_under_data():
    manifest = job_manifest(make_spec(), volumes=("shared-datasets", "group.home", "shared-datasets"))

    pod = manifest["spec"]["template"]["spec"]
    assert pod["containers"][0]["volumeMounts"] == [
        *BASE_MOUNTS,
        {"name": "data-0", "mountPath": "/data/shared-datasets"},
        {"name": "data-1", "mountPath": "/data/group.home"},
    ]
    assert pod["volumes"] == [
        *BASE_VOLUMES,
        {"name": "data-0", "persistentVolumeClaim": {"claimName": "shared-datasets"}},
        {"name": "data-1", "persistentVolumeClaim": {"claimName": "group.home"}},
    ]
    assert_valid(manifest)


def test_backend_manifest_merges_spec_volumes_with_the_configured_ones(cluster, settings):
    settings.TALLER_PROJECT_VOLUMES = {"genomics": ("datasets",), "other": ("not-ours",)}
    settings.TALLER_RUN_AS_USER = 2000

    manifest = cluster.backend.manifest(make_spec(volumes=("scratch-pvc", "datasets")))

    pod = manifest["spec"]["template"]["spec"]
    assert [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"][2:]] == [
        "scratch-pvc",
        "datasets",
    ]
    assert pod["securityContext"]["runAsUser"] == 2000
    assert_valid(manifest)


def test_namespace_manifest_enforces_restricted_pod_security():
    manifest = namespace_manifest("genomics")

    assert manifest == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": "taller-genomics",
            "labels": {
                "taller.io/project": "genomics",
                "app.kubernetes.io/managed-by": "taller",
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
            },
        },
    }
    assert_valid(manifest)


LIMITS = ProjectLimits(
    project="genomics",
    max_gpus=4,
    max_cpu=Decimal("12.5"),
    max_memory_mib=65536,
    max_running_jobs=6,
    max_time_limit_minutes=1440,
)


def test_resource_quota_mirrors_the_project_limits():
    manifest = resource_quota_manifest(LIMITS)

    assert manifest == {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {
            "name": "taller-quota",
            "namespace": "taller-genomics",
            "labels": {"taller.io/project": "genomics", "app.kubernetes.io/managed-by": "taller"},
        },
        "spec": {
            "hard": {
                "requests.cpu": "12500m",
                "limits.cpu": "12500m",
                "requests.memory": "65536Mi",
                "limits.memory": "65536Mi",
                "requests.nvidia.com/gpu": "4",
                "pods": "6",
            }
        },
    }
    assert_valid(manifest)


def test_limit_range_caps_one_container_and_defaults_within_the_cap():
    manifest = limit_range_manifest(LIMITS)

    assert manifest == {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {
            "name": "taller-limits",
            "namespace": "taller-genomics",
            "labels": {"taller.io/project": "genomics", "app.kubernetes.io/managed-by": "taller"},
        },
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "max": {"cpu": "12500m", "memory": "65536Mi"},
                    "default": {"cpu": "1", "memory": "1024Mi"},
                    "defaultRequest": {"cpu": "1", "memory": "1024Mi"},
                }
            ]
        },
    }
    assert_valid(manifest)
    small = limit_range_manifest(
        ProjectLimits(
            "tiny",
            max_gpus=0,
            max_cpu=Decimal("0.5"),
            max_memory_mib=512,
            max_running_jobs=1,
            max_time_limit_minutes=60,
        )
    )
    assert small["spec"]["limits"][0]["default"] == {"cpu": "500m", "memory": "512Mi"}
    assert (
        resource_quota_manifest(
            ProjectLimits(
                "tiny",
                max_gpus=0,
                max_cpu=Decimal("0.5"),
                max_memory_mib=512,
                max_running_jobs=1,
                max_time_limit_minutes=60,
            )
        )["spec"]["hard"]["requests.nvidia.com/gpu"]
        == "0"
    )


@pytest.mark.parametrize(
    ("cores", "quantity"),
    [
        (Decimal(1), "1"),
        (Decimal("0.25"), "250m"),
        (Decimal("1.5"), "1500m"),
        (2, "2"),
        (Decimal("0.0001"), "1m"),
    ],
)
def test_cpu_quantities_are_strings(cores, quantity):
    assert cpu_quantity(cores) == quantity


def test_strict_validation_catches_what_the_builders_must_never_emit():
    manifest = job_manifest(make_spec())
    manifest["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = "yes"
    with pytest.raises(kubernetes_validate.ValidationError):
        assert_valid(manifest)
    manifest = job_manifest(make_spec())
    manifest["spec"]["template"]["spec"]["hostPID_typo"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        assert_valid(manifest)


def test_project_volumes_setting_parses_and_rejects_garbage(monkeypatch):
    monkeypatch.setenv("TALLER_PROJECT_VOLUMES", "proj1:pvc-a|pvc-b, proj2:pvc-c")
    assert envmapping("TALLER_PROJECT_VOLUMES") == {"proj1": ("pvc-a", "pvc-b"), "proj2": ("pvc-c",)}
    monkeypatch.setenv("TALLER_PROJECT_VOLUMES", "proj1")
    with pytest.raises(ImproperlyConfigured, match="TALLER_PROJECT_VOLUMES"):
        envmapping("TALLER_PROJECT_VOLUMES")
