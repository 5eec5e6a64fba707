"""Execution backends: where a job's process runs. Chosen by settings.TALLER_EXECUTOR."""

from django.conf import settings
from django.utils.module_loading import import_string

from .base import Backend, BackendError, BackendStatus, JobSpec, ProjectLimits

BACKENDS = {
    "local": "clusterjobs.backends.local.LocalBackend",
    "kubernetes": "clusterjobs.backends.kubernetes.KubernetesBackend",
}

_instances: dict[str, Backend] = {}


def get_backend(name: str | None = None) -> Backend:
    """The configured backend (one instance per process: it may hold a client or connection pool)."""
    name = name or settings.TALLER_EXECUTOR
    if name not in _instances:
        _instances[name] = import_string(BACKENDS[name])()
    return _instances[name]


__all__ = ["Backend", "BackendError", "BackendStatus", "JobSpec", "ProjectLimits", "get_backend"]
