"""The Kubernetes execution backend: one namespace per project, one batch/v1 Job per portal job.

The only package that imports the `kubernetes` client. It takes plain specs (no models), builds
every manifest itself (users never write pod specs), and turns the client's exceptions into
BackendError with ``permanent`` saying whether a retry can help. Its modules, in the order they
depend on each other:

- ``manifests``: names, labels, quantities and the manifests (Namespace, ResourceQuota,
  LimitRange, Job, Secret), pure functions of a spec;
- ``status``: ``job_status()``, what the cluster says of a Job, its Pods and its FailedCreate
  events, as the portal's phase and reason;
- ``calls``: the options every request carries and the one translation of errors;
- ``watch``: the list+watch streams and the cache statuses are recomputed from;
- ``backend``: ``KubernetesBackend``, the calls themselves;
- ``workloads``: Deployments, their Services and Secrets (the deployments app's model servers)
  applied, rolled, scaled and removed, and ``rollout()``, where a rollout stands.

Callers import from here: ``from clusterjobs.backends.kubernetes import KubernetesBackend``.
"""

from .backend import KubernetesBackend
from .manifests import (
    cpu_quantity,
    job_manifest,
    job_name,
    limit_range_manifest,
    memory_quantity,
    namespace_manifest,
    namespace_name,
    resource_quota_manifest,
    restricted_container_security,
    restricted_pod_security,
    secret_manifest,
)
from .status import job_status
from .workloads import Rollout, Workloads, rollout, workloads

__all__ = [
    "KubernetesBackend",
    "Rollout",
    "Workloads",
    "rollout",
    "workloads",
    "cpu_quantity",
    "job_manifest",
    "job_name",
    "job_status",
    "limit_range_manifest",
    "memory_quantity",
    "restricted_container_security",
    "restricted_pod_security",
    "namespace_manifest",
    "namespace_name",
    "resource_quota_manifest",
    "secret_manifest",
]
