"""Dispatch to Kubernetes: 1,000 jobs through KubernetesBackend.submit against the test API
server, against a bare loop of `create_namespaced_job` calls on the same server, same run.
Target: at least 0.7 of the bare rate."""

import tempfile
import time
from decimal import Decimal
from pathlib import Path

import yaml
from django.test.utils import override_settings
from kubernetes import client, config

from clusterjobs.backends.base import JobSpec
from clusterjobs.backends.kubernetes import KubernetesBackend, job_manifest
from tests.clusterjobs.k8s_api import FakeKubernetes

JOBS = 1000
WARMUP = 20
BLOCK = 50
TARGET = 0.7


def spec(job_id: int, project: str) -> JobSpec:
    return JobSpec(
        job_id=job_id,
        project=project,
        uid=f"bench-{project}-{job_id}",
        image="registry.example.edu/ml/train:1.0",
        command=["python", "train.py", "--epochs", "3"],
        env={"MLFLOW_RUN_ID": f"run{job_id}", "SEED": "7"},
        cpu=Decimal("1.5"),
        memory_mib=2048,
        gpus=1,
        gpu_type="T4",
    )


def run() -> list[dict]:
    api = FakeKubernetes(simulate_pods=True).start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            kubeconfig = Path(folder) / "kubeconfig.yaml"
            kubeconfig.write_text(yaml.safe_dump(api.kubeconfig()))
            with override_settings(
                TALLER_KUBECONFIG=str(kubeconfig), TALLER_K8S_CONTEXT="", TALLER_PROJECT_VOLUMES={}
            ):
                return [measure(kubeconfig)]
    finally:
        api.stop()


def measure(kubeconfig: Path) -> dict:
    backend = KubernetesBackend()
    batch = client.BatchV1Api(config.new_client_from_config(config_file=str(kubeconfig)))
    core = client.CoreV1Api(batch.api_client)
    core.create_namespace({"metadata": {"name": "taller-bare"}})
    bodies = [job_manifest(spec(i, "bare")) for i in range(JOBS + WARMUP)]
    specs = [spec(i, "ours") for i in range(JOBS + WARMUP)]
    for i in range(WARMUP):  # both paths warmed up (client models built, connections open)
        batch.create_namespaced_job("taller-bare", bodies[i])
        backend.submit(specs[i])

    # Alternate blocks of each, so that neither gains from running first or on a smaller store.
    bare_seconds = ours_seconds = 0.0
    for start in range(WARMUP, WARMUP + JOBS, BLOCK):
        started = time.perf_counter()
        for body in bodies[start : start + BLOCK]:
            batch.create_namespaced_job("taller-bare", body)
        bare_seconds += time.perf_counter() - started
        started = time.perf_counter()
        for job in specs[start : start + BLOCK]:
            backend.submit(job)
        ours_seconds += time.perf_counter() - started
    bare, ours = JOBS / bare_seconds, JOBS / ours_seconds

    ratio = ours / bare
    return {
        "name": f"dispatch {JOBS} jobs to Kubernetes (submit vs bare create_namespaced_job)",
        "baseline": f"{bare:.0f} jobs/s",
        "ours": f"{ours:.0f} jobs/s",
        "ratio": ratio,
        "target": f">= {TARGET}",
        "ok": ratio >= TARGET,
    }
