"""Fixtures for the Kubernetes backend: a test API server on 127.0.0.1 and a kubeconfig for it."""

import dataclasses
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from clusterjobs import project_ready
from clusterjobs.backends import get_backend
from clusterjobs.backends.base import JobSpec
from clusterjobs.backends.kubernetes import KubernetesBackend
from clusterjobs.request import JobRequest
from tests.conftest import Personas

from .dvcrepo import _dvc_served, dvc_git, s3  # noqa: F401 - a DVC project and an S3-compatible server
from .factories import JobFactory
from .gitserver import private_git, public_git  # noqa: F401 - git servers for the source tests
from .k8s_api import SCHEMA_VERSIONS, FakeKubernetes


def assert_valid(manifest: dict) -> None:
    """Strict validation (unknown fields are errors) against the published Kubernetes schema."""
    for version in SCHEMA_VERSIONS:
        kubernetes_validate.validate(manifest, version, strict=True)


def make_spec(job_id: int = 42, **changes) -> JobSpec:
    """A backend spec; ``changes`` name its fields or its request's (image, cpu, gpus ...)."""
    asked = {
        "name": "train",
        "image": "registry.example.edu/ml/train:1.0",
        "command": ["python", "train.py", "--epochs", "3"],
        "cpu": Decimal("1.5"),
        "memory_mib": 2048,
    }
    values = {
        "job_id": job_id,
        "project": "genomics",
        "uid": f"uid-{job_id}",
        "env": {"MLFLOW_RUN_ID": "abc123", "SEED": "7"},
        "time_limit_seconds": 5400,
    }
    own = {f.name for f in dataclasses.fields(JobSpec)}
    for name, value in changes.items():
        (values if name in own else asked)[name] = value
    return JobSpec(request=JobRequest(**asked), **values)


@dataclass
class Cluster:
    api: FakeKubernetes
    kubeconfig: Path
    backend: KubernetesBackend


@pytest.fixture
def local(settings, httpserver):
    """The local backend, its folders looked at often, its jobs' tracking address a stub: the
    runner asks it before the command starts, so something must answer there."""
    settings.TALLER_EXECUTOR = "local"
    httpserver.expect_request("/mlflow/api/2.0/mlflow/runs/get").respond_with_json({"run": {}})
    settings.TALLER_JOB_TRACKING_URI = httpserver.url_for("/mlflow")
    settings.TALLER_LOCAL_POLL_SECONDS = 0.1
    return get_backend("local")


@pytest.fixture
def k8s_api():
    api = FakeKubernetes().start()
    yield api
    api.stop()


@pytest.fixture
def cluster(k8s_api, settings, tmp_path) -> Cluster:
    """A kubeconfig pointing at the test API server, the settings that select it, and a backend."""
    path = tmp_path / "kubeconfig.yaml"
    path.write_text(yaml.safe_dump(k8s_api.kubeconfig(context="taller-test")))
    settings.TALLER_EXECUTOR = "kubernetes"
    settings.TALLER_KUBECONFIG = str(path)
    settings.TALLER_K8S_CONTEXT = "taller-test"
    settings.TALLER_K8S_TIMEOUT_SECONDS = 5
    settings.TALLER_K8S_WATCH_SECONDS = 2
    settings.TALLER_GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
    settings.TALLER_JOB_TTL_SECONDS = 3600
    settings.TALLER_RUN_AS_USER = 1000
    settings.TALLER_PROJECT_VOLUMES = {}
    settings.TALLER_JOB_TRACKING_URI = "https://portal.example.edu/mlflow"
    return Cluster(api=k8s_api, kubeconfig=path, backend=KubernetesBackend())


@pytest.fixture
def spec() -> dict:
    """A valid job spec, as the actions take it."""
    return {
        "name": "train digits",
        "image": "python:3.11-slim",
        "command": ["python", "-m", "examples.train", "--epochs", "3"],
        "env": {"SEED": "7", "API_KEY": "s3cr3t"},
        "secret_env": ["API_KEY"],
        "cpu": "1",
        "memory_mib": 1024,
        "gpus": 0,
        "gpu_type": "",
        "time_limit_minutes": 10,
        "experiment": "default",
    }


@pytest.fixture
def body() -> dict:
    """A valid POST /api/v1/jobs/ body for the personas' project."""
    return {
        "project": "genomics",
        "name": "train digits",
        "image": "python:3.11-slim",
        "command": ["python", "-m", "examples.train", "--epochs", "3"],
        "env": {"SEED": "7", "API_KEY": "s3cr3t"},
        "secret_env": ["API_KEY"],
        "resources": {"cpu": "1", "memory_mib": 1024, "gpus": 0},
        "time_limit_minutes": 10,
    }


@pytest.fixture
def genomics_job(personas: Personas):
    return JobFactory(project=personas.project, submitter=personas.bob)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """The personas' passwords need no strong hashing in these tests."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def k8s(cluster, personas, settings):
    """The test cluster, with the personas' project to be prepared afresh by its first dispatch."""
    settings.TALLER_JOB_TRACKING_URI = "https://portal.example.edu/mlflow"
    project_ready.forget_project_ready(cluster.backend, personas.project.slug)
    yield cluster
    project_ready.forget_project_ready(cluster.backend, personas.project.slug)
