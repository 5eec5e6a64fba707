"""The manifests the portal sends to the cluster, built from plain specs (users never write pod
specs): pure functions returning dicts, so they are asserted and validated against the published
schema on their own. Names, labels and quantities the rest of the backend shares live here too.

Secrets: the job's token and its secret variables (``JobSpec.secret_names``) never appear in the
Job spec, where anyone who may read Jobs or Pods would see them. They go into a Secret of the
Job's name, owned by the Job (so the cluster deletes it with the Job: cancel, TTL), which the
container's ``env`` refers to by ``secretKeyRef``.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from ...sources import checkout, pull
from ..base import JobSpec, ProjectLimits

LABEL_JOB = "taller.io/job"
LABEL_PROJECT = "taller.io/project"
ANNOTATION_UID = "taller.io/uid"
MANAGED_BY = {"app.kubernetes.io/managed-by": "taller"}
CONTAINER = "main"
SOURCE_CONTAINER = "source"  # the init container that fetches a job's code (sources.checkout)
UNPACK_CONTAINER = "unpack"  # the init container that unpacks a job's code snapshot (after the clone)
PULL_CONTAINER = "data"  # the init container that pulls a job's DVC data after them (sources.pull)
# Init containers by name: the step a failure names in the job's reason.
INIT_STEPS = {
    SOURCE_CONTAINER: checkout.STEP,
    UNPACK_CONTAINER: checkout.UNPACK_STEP,
    PULL_CONTAINER: pull.STEP,
}
# Variables of the init containers alone: the main container never gets them.
INIT_ONLY_ENV = (*checkout.CREDENTIAL_NAMES, *pull.CREDENTIAL_NAMES, pull.REMOTE, pull.ENDPOINT)
QUOTA_NAME = "taller-quota"
LIMITS_NAME = "taller-limits"
GPU_RESOURCE = "nvidia.com/gpu"
# What a container in a namespace gets when its pod names no resources (the portal's always do).
DEFAULT_CONTAINER_CPU = Decimal(1)
DEFAULT_CONTAINER_MEMORY_MIB = 1024


# ---- names and quantities ---------------------------------------------------------------------


def namespace_name(project: str) -> str:
    return f"taller-{project}"


def job_name(job_id: int) -> str:
    return f"taller-{job_id}"


def cpu_quantity(cores: Decimal | int | str) -> str:
    """Whole cores as "2", anything else in millicores ("1500m"); always a string."""
    millis = int((Decimal(cores) * 1000).to_integral_value(rounding=ROUND_CEILING))
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def memory_quantity(mib: int) -> str:
    return f"{int(mib)}Mi"


# ---- manifests ---------------------------------------------------------------------------------


def namespace_manifest(project: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": namespace_name(project),
            "labels": {
                LABEL_PROJECT: project,
                **MANAGED_BY,
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
            },
        },
    }


def _env_entry(spec: JobSpec, name: str, value: str) -> dict:
    if name in spec.secret_names:
        return {"name": name, "valueFrom": {"secretKeyRef": {"name": spec.name, "key": name}}}
    return {"name": name, "value": value}


def source_container(spec: JobSpec, git_image: str) -> dict | None:
    """The init container that checks the job's commit out into /workspace before the job's
    container starts (None for a job without a git source). The project's credential reaches it
    alone, from the job's Secret; the address and commit are plain variables, never in the script."""
    clone_env = checkout.clone_env(spec.request.source)
    if not clone_env:
        return None
    credential = [name for name in checkout.CREDENTIAL_NAMES if name in spec.env]
    return {
        "name": SOURCE_CONTAINER,
        "image": git_image,
        "command": checkout.clone_command(),
        "workingDir": checkout.WORKSPACE,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "env": [
            {"name": "HOME", "value": "/tmp"},
            *({"name": name, "value": value} for name, value in clone_env.items()),
            *(_env_entry(spec, name, spec.env[name]) for name in credential),
        ],
        "resources": {
            "requests": {"cpu": "500m", "memory": "512Mi"},
            "limits": {"cpu": "500m", "memory": "512Mi"},
        },
        "securityContext": restricted_container_security(),
        "volumeMounts": [{"name": "workspace", "mountPath": checkout.WORKSPACE}],
    }


def unpack_container(spec: JobSpec, image: str, portal_url: str) -> dict | None:
    """The init container that fetches the job's code snapshot from the portal (with the job's
    own token, from the job's Secret: the one API call that token may make) and unpacks it into
    /workspace, after the clone when there is one (None for a job without a snapshot)."""
    env = checkout.unpack_env(spec.request.source or {}, portal_url, spec.job_id)
    if not env:
        return None
    token = {"secretKeyRef": {"name": spec.name, "key": "MLFLOW_TRACKING_TOKEN"}}
    return {
        "name": UNPACK_CONTAINER,
        "image": image,
        "command": checkout.unpack_command(),
        "workingDir": checkout.WORKSPACE,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "env": [
            {"name": "HOME", "value": "/tmp"},
            *({"name": name, "value": value} for name, value in env.items()),
            {"name": checkout.SNAPSHOT_TOKEN, "valueFrom": token},
        ],
        "resources": {
            "requests": {"cpu": "500m", "memory": "512Mi"},
            "limits": {"cpu": "500m", "memory": "512Mi"},
        },
        "securityContext": restricted_container_security(),
        "volumeMounts": [{"name": "workspace", "mountPath": checkout.WORKSPACE}],
    }


def pull_container(spec: JobSpec, dvc_image: str, claims: list[str]) -> dict | None:
    """The init container that pulls the job's DVC targets into the checkout in /workspace, after
    the clone (None for a job without DVC targets). The remote's key pair reaches it alone, from
    the job's Secret; a remote on a shared volume is read from the project's volumes, mounted here
    read-only at /data/<claim> as in the job's container."""
    targets = pull.targets(spec.request.source or {})
    if not targets:
        return None
    plain = [name for name in (pull.REMOTE, pull.ENDPOINT) if name in spec.env]
    credential = [name for name in pull.CREDENTIAL_NAMES if name in spec.env]
    return {
        "name": PULL_CONTAINER,
        "image": dvc_image,
        "command": pull.pull_command(targets),
        "workingDir": checkout.WORKSPACE,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "env": [
            {"name": "HOME", "value": "/tmp"},
            {"name": "TMPDIR", "value": "/tmp"},
            *({"name": name, "value": spec.env[name]} for name in plain),
            *(_env_entry(spec, name, spec.env[name]) for name in credential),
        ],
        "resources": {
            "requests": {"cpu": "1", "memory": "1Gi"},
            "limits": {"cpu": "1", "memory": "1Gi"},
        },
        "securityContext": restricted_container_security(),
        "volumeMounts": [
            {"name": "workspace", "mountPath": checkout.WORKSPACE},
            *(
                {"name": f"data-{i}", "mountPath": f"/data/{claim}", "readOnly": True}
                for i, claim in enumerate(claims)
            ),
        ],
    }


def secret_manifest(spec: JobSpec, owner_uid: str) -> dict:
    """The Secret holding the job's secret values, named like the Job and owned by it (the Job with
    ``owner_uid``): deleting the Job deletes it."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": spec.name,
            "namespace": namespace_name(spec.project),
            "labels": {LABEL_JOB: str(spec.job_id), LABEL_PROJECT: spec.project, **MANAGED_BY},
            "annotations": {ANNOTATION_UID: spec.uid},
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": spec.name,
                    "uid": owner_uid,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "stringData": {name: spec.env[name] for name in spec.secret_names if name in spec.env},
    }


def restricted_pod_security(run_as_user: int = 1000) -> dict:
    """The pod half of the restricted Pod Security profile (every workload the portal runs)."""
    return {
        "runAsNonRoot": True,
        "runAsUser": run_as_user,
        "runAsGroup": run_as_user,
        "fsGroup": run_as_user,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def restricted_container_security() -> dict:
    """The container half: no privilege escalation, every capability dropped."""
    return {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def job_manifest(
    spec: JobSpec,
    *,
    volumes: tuple[str, ...] | list[str] = (),
    gpu_label: str = "nvidia.com/gpu.product",
    ttl_seconds: int = 3600,
    run_as_user: int = 1000,
    git_image: str = "alpine/git:v2.47.2",
    portal_url: str = "http://127.0.0.1:8000",
    dvc_image: str = "iterativeai/cml:0-dvc3-base1",
) -> dict:
    """The batch/v1 Job for one portal job. ``volumes`` are PersistentVolumeClaim names, mounted
    at /data/<name>; their volumes are named data-0, data-1 ... (claim names may be longer or
    contain dots, which volume names may not)."""
    labels = {LABEL_JOB: str(spec.job_id), LABEL_PROJECT: spec.project, **MANAGED_BY}
    annotations = {ANNOTATION_UID: spec.uid}
    quantities = {"cpu": cpu_quantity(spec.cpu), "memory": memory_quantity(spec.memory_mib)}
    if spec.gpus > 0:
        quantities[GPU_RESOURCE] = str(int(spec.gpus))
    claims = list(dict.fromkeys(volumes))
    source = source_container(spec, git_image)
    # The DVC data is pulled into a checkout: a job with a git source alone.
    data = pull_container(spec, dvc_image, claims) if source is not None else None
    init = [c for c in (source, unpack_container(spec, git_image, portal_url), data) if c]
    own_env = [(n, v) for n, v in spec.env.items() if n not in INIT_ONLY_ENV]
    pod_spec: dict = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": restricted_pod_security(run_as_user),
        "containers": [
            {
                "name": CONTAINER,
                "image": spec.image,
                "command": list(spec.command),
                # A container that fails without writing /dev/termination-log gets the end of its
                # log as its termination message: the watcher puts its last line in the job's
                # reason (an MLflow client redirected or refused says so there).
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "env": [_env_entry(spec, name, value) for name, value in own_env],
                "resources": {"requests": dict(quantities), "limits": dict(quantities)},
                "securityContext": restricted_container_security(),
                "volumeMounts": [
                    {"name": "scratch", "mountPath": "/scratch"},
                    {"name": "dshm", "mountPath": "/dev/shm"},
                    *({"name": f"data-{i}", "mountPath": f"/data/{claim}"} for i, claim in enumerate(claims)),
                ],
            }
        ],
        "volumes": [
            {"name": "scratch", "emptyDir": {}},
            {"name": "dshm", "emptyDir": {"medium": "Memory"}},
            *(
                {"name": f"data-{i}", "persistentVolumeClaim": {"claimName": claim}}
                for i, claim in enumerate(claims)
            ),
        ],
    }
    if init:
        pod_spec["initContainers"] = init
        pod_spec["volumes"].append({"name": "workspace", "emptyDir": {}})
        main = pod_spec["containers"][0]
        main["workingDir"] = checkout.WORKSPACE
        main["volumeMounts"].append({"name": "workspace", "mountPath": checkout.WORKSPACE})
    if spec.gpus > 0 and spec.gpu_type:
        pod_spec["nodeSelector"] = {gpu_label: spec.gpu_type}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": spec.name,
            "namespace": namespace_name(spec.project),
            "labels": dict(labels),
            "annotations": dict(annotations),
        },
        "spec": {
            "backoffLimit": spec.backoff_limit,
            "activeDeadlineSeconds": spec.time_limit_seconds,
            "ttlSecondsAfterFinished": ttl_seconds,
            "template": {
                "metadata": {"labels": dict(labels), "annotations": dict(annotations)},
                "spec": pod_spec,
            },
        },
    }


def resource_quota_manifest(limits: ProjectLimits) -> dict:
    """What the whole namespace may hold at once: the portal's quota, enforced again by the cluster.
    Pods (not Jobs) are counted, as a finished Job lingers until its TTL."""
    cpu, memory = cpu_quantity(limits.max_cpu), memory_quantity(limits.max_memory_mib)
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {
            "name": QUOTA_NAME,
            "namespace": namespace_name(limits.project),
            "labels": {LABEL_PROJECT: limits.project, **MANAGED_BY},
        },
        "spec": {
            "hard": {
                "requests.cpu": cpu,
                "limits.cpu": cpu,
                "requests.memory": memory,
                "limits.memory": memory,
                f"requests.{GPU_RESOURCE}": str(int(limits.max_gpus)),
                "pods": str(int(limits.max_running_jobs)),
            }
        },
    }


def limit_range_manifest(limits: ProjectLimits) -> dict:
    """The most one container may ask for, and what a container that names nothing gets."""
    max_cpu, max_memory = Decimal(limits.max_cpu), int(limits.max_memory_mib)
    default = {
        "cpu": cpu_quantity(min(DEFAULT_CONTAINER_CPU, max_cpu)),
        "memory": memory_quantity(min(DEFAULT_CONTAINER_MEMORY_MIB, max_memory)),
    }
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {
            "name": LIMITS_NAME,
            "namespace": namespace_name(limits.project),
            "labels": {LABEL_PROJECT: limits.project, **MANAGED_BY},
        },
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "max": {"cpu": cpu_quantity(max_cpu), "memory": memory_quantity(max_memory)},
                    "default": dict(default),
                    "defaultRequest": dict(default),
                }
            ]
        },
    }
