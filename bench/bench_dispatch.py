"""Dispatch to Kubernetes against the test API server, against a bare loop of
`create_namespaced_job` and `create_namespaced_secret` calls (a Job and the Secret with its token)
on the same server, same run. Target (issue 17): at least 0.9 of the bare rate.

- the portal's dispatch path: 1,000 admitted (``dispatching``) jobs in the bench database, their
  MLflow runs already recorded, dispatched as the drain that admitted them sends them (batches of
  ``queue.DISPATCH_BATCH``, each by the body of the Celery task ``dispatch_jobs``: the jobs locked
  and claimed, their job-scoped tokens, the project prepared only when its limits changed, each
  Job created and its Secret, the moves to ``pending`` with their transitions);
- KubernetesBackend.submit alone on the same specs (the backend's own overhead).

The bare loop posts the same manifests into a namespace prepared with the same ResourceQuota and
LimitRange, so the server does the same work for each Job. Blocks of each alternate, so that
neither gains from running first or on a smaller store; everything runs one job at a time.
"""

import multiprocessing
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import yaml
from django.db import connections
from django.test.utils import override_settings
from django.utils import timezone
from kubernetes import client, config

from clusterjobs import admission, tasks
from clusterjobs.backends.base import JobSpec
from clusterjobs.backends.kubernetes import KubernetesBackend, job_manifest, secret_manifest
from clusterjobs.models import Job, JobStatus, JobTransition
from clusterjobs.queue import DISPATCH_BATCH
from clusterjobs.request import JobRequest
from portal.accounts.models import User
from portal.projects.models import Membership, Project, Role
from portal.quotas.models import Quota
from tests.clusterjobs.k8s_api import FakeKubernetes

JOBS = 1000
WARMUP = 80  # a batch for each worker (BLOCK): each opens its connections
TARGET = 0.9
WORKERS = 4  # worker processes dispatching at once, as `celery worker --concurrency 4` (prefork)
BLOCK = WORKERS * DISPATCH_BATCH  # jobs admitted together: a batch for each worker
ENV = {"SEED": "7", "DATA_DIR": "/data/shared/digits"}


def spec(job_id: int, project: str) -> JobSpec:
    return JobSpec(
        job_id=job_id,
        project=project,
        uid=f"bench-{project}-{job_id}",
        request=JobRequest(
            name="train",
            image="registry.example.edu/ml/train:1.0",
            command=["python", "train.py", "--epochs", "3"],
            cpu=Decimal("1.5"),
            memory_mib=2048,
            gpus=1,
            gpu_type="T4",
        ),
        env={
            **ENV,
            "MLFLOW_TRACKING_URI": "https://portal.example.edu/mlflow",
            "MLFLOW_TRACKING_TOKEN": "t" * 43,
            "MLFLOW_RUN_ID": f"{job_id:032x}",
            "MLFLOW_EXPERIMENT_ID": "7",
            "TALLER_JOB_ID": str(job_id),
            "TALLER_PROJECT": project,
        },
        time_limit_seconds=3600,
        secret_names=("MLFLOW_TRACKING_TOKEN",),
    )


def dispatch_batch(job_ids: list[int]) -> list[str]:
    """In a worker process: what the Celery task runs."""
    return list(tasks.dispatch_jobs(job_ids).values())


def run() -> list[dict]:
    # No Pods: the test server would start each Job's Pod inside the create request, summing the
    # requests of every Pod of the namespace for its quota (a real API server leaves that to the Job
    # controller, after it answered), and measure itself more than the dispatch.
    with test_cluster(simulate_pods=False) as (api, kubeconfig):
        return measure(kubeconfig, api)


@contextmanager
def test_cluster(simulate_pods: bool) -> Iterator[tuple[FakeKubernetes, Path]]:
    """A test API server of the bench's own, and the settings that send the portal's jobs to it."""
    # The manifests are checked by the tests; the bench measures the portal, not those checks.
    api = FakeKubernetes(simulate_pods=simulate_pods, check_schema=False).start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            kubeconfig = Path(folder) / "kubeconfig.yaml"
            kubeconfig.write_text(yaml.safe_dump(api.kubeconfig()))
            with override_settings(
                TALLER_EXECUTOR="kubernetes",
                TALLER_KUBECONFIG=str(kubeconfig),
                TALLER_K8S_CONTEXT="",
                TALLER_PROJECT_VOLUMES={},
                TALLER_JOB_TRACKING_URI="https://portal.example.edu/mlflow",
            ):
                yield api, kubeconfig
    finally:
        api.stop()


def admitted_jobs(count: int, slug: str = "bench-dispatch") -> tuple[Project, list[int]]:
    """``count`` jobs as admission leaves them: dispatching, with their MLflow run recorded, in a
    project of their own, named ``slug``, with room for them all."""
    user = User.objects.create_user(username=slug, email=f"{slug}@bench.example")
    project = Project.objects.create(
        slug=slug,
        name=slug,
        principal_investigator="Bench",
        requested_by=user,
        status=Project.Status.ACTIVE,
    )
    Membership.objects.create(project=project, user=user, role=Role.MEMBER)
    Quota.objects.update_or_create(  # a new project has its default quota already
        project=project,
        defaults={
            **Quota.defaults(),
            "max_gpus": 2 * count,
            "max_cpu": Decimal(2 * count),
            "max_memory_mib": 4096 * count,
            "max_running_jobs": 2 * count,
        },
    )
    now = timezone.now()
    jobs = Job.objects.bulk_create(
        Job(
            project=project,
            submitter=user,
            name=f"bench {i}",
            image="registry.example.edu/ml/train:1.0",
            command=["python", "train.py", "--epochs", "3"],
            env=dict(ENV),
            cpu=Decimal("1.5"),
            memory_mib=2048,
            gpus=1,
            gpu_type="T4",
            status=JobStatus.DISPATCHING,
            mlflow_experiment_id="7",
            mlflow_run_id=f"{i:032x}",
            created_at=now,
        )
        for i in range(count)
    )
    JobTransition.objects.bulk_create(
        JobTransition(job=job, to_status=JobStatus.DISPATCHING, reason="admitted", at=now) for job in jobs
    )
    return project, [job.pk for job in jobs]


def measure(kubeconfig: Path, api: FakeKubernetes) -> list[dict]:
    total = JOBS + WARMUP
    project, job_ids = admitted_jobs(total)
    raw = config.new_client_from_config(config_file=str(kubeconfig))
    batch, core = client.BatchV1Api(raw), client.CoreV1Api(raw)
    submit_backend = KubernetesBackend()
    # The bare and submit-only namespaces get the same quota objects as the portal's project: its
    # limits as the workers read them (the project object in hand still holds the default quota
    # it was created with, under which the cluster would refuse all but the first Pod).
    limits = admission.project_limits(Project.objects.select_related("quota").get(pk=project.pk))
    for name in ("bare", "submit"):
        submit_backend.ensure_project(type(limits)(**{**limits.__dict__, "project": name}))
    bodies = [job_manifest(spec(i, "bare")) for i in range(total)]
    specs = [spec(i, "submit") for i in range(total)]

    def bare(i: int) -> None:
        created = batch.create_namespaced_job("taller-bare", bodies[i])
        core.create_namespaced_secret("taller-bare", secret_manifest(spec(i, "bare"), created.metadata.uid))

    def submit(i: int) -> None:
        submit_backend.submit(specs[i])

    # The portal's workers are processes (Celery's prefork pool), forked before any of them
    # touches the database or the cluster: each opens its own connections.
    connections.close_all()
    pool = multiprocessing.get_context("fork").Pool(WORKERS)

    def serial(path, indexes) -> None:
        for i in indexes:
            path(i)

    def pooled(path, indexes) -> None:
        ids = [job_ids[i] for i in indexes]
        batches = [ids[start : start + DISPATCH_BATCH] for start in range(0, len(ids), DISPATCH_BATCH)]
        outcomes = {outcome for batch in pool.map(dispatch_batch, batches, chunksize=1) for outcome in batch}
        if outcomes != {"submitted"}:
            raise AssertionError(f"dispatch answered {sorted(set(outcomes))}")

    paths = {"bare": (serial, bare), "submit": (serial, submit), "dispatch": (pooled, None)}
    try:
        # Every path warmed up (client models built, connections open, each worker's connections).
        for run_path, path in paths.values():
            run_path(path, range(WARMUP))
        seconds = dict.fromkeys(paths, 0.0)
        for start in range(WARMUP, total, BLOCK):
            for name, (run_path, path) in paths.items():
                started = time.perf_counter()
                run_path(path, range(start, min(start + BLOCK, total)))
                seconds[name] += time.perf_counter() - started
    finally:
        pool.close()
        pool.join()
    rate = {name: JOBS / spent for name, spent in seconds.items()}

    # Correct as well as fast: every job pending, exactly one Job and one Secret each on the cluster.
    pending = Job.objects.filter(pk__in=job_ids, status=JobStatus.PENDING).count()
    created = len(api.items("jobs", f"taller-{project.slug}"))
    secrets = len(api.items("secrets", f"taller-{project.slug}"))
    if pending != total or created != total or secrets != total:
        raise AssertionError(f"{pending} jobs pending, {created} Jobs and {secrets} Secrets of {total}")

    def row(name: str, ours: str) -> dict:
        ratio = rate[ours] / rate["bare"]
        return {
            "name": name,
            "baseline": f"{rate['bare']:.0f} jobs/s",
            "ours": f"{rate[ours]:.0f} jobs/s",
            "ratio": ratio,
            "target": f">= {TARGET}",
            "ok": ratio >= TARGET,
        }

    return [
        row(
            f"dispatch {JOBS} admitted jobs to Kubernetes (batches of {DISPATCH_BATCH} in {WORKERS} worker processes) "
            "vs a bare loop creating each Job and its Secret",
            "dispatch",
        ),
        row(
            f"submit {JOBS} jobs to Kubernetes (KubernetesBackend.submit) vs bare Job and Secret creates",
            "submit",
        ),
    ]
