"""A project's namespace on the cluster: the Namespace, its ResourceQuota and its LimitRange,
created or brought in line with the project's limits (idempotent; run once per change by dispatch)."""

from __future__ import annotations

from collections.abc import Callable

from django.utils.translation import gettext_noop
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.utils.quantity import parse_quantity

from ..base import BackendError, ProjectLimits
from .calls import fetch, send
from .manifests import limit_range_manifest, namespace_manifest, resource_quota_manifest


def prepare_namespace(core: client.CoreV1Api, limits: ProjectLimits) -> None:
    ensure_namespace(core, limits.project)
    _apply(
        resource_quota_manifest(limits),
        core.create_namespaced_resource_quota,
        core.read_namespaced_resource_quota,
        core.replace_namespaced_resource_quota,
    )
    _apply(
        limit_range_manifest(limits),
        core.create_namespaced_limit_range,
        core.read_namespaced_limit_range,
        core.replace_namespaced_limit_range,
    )


def ensure_namespace(core: client.CoreV1Api, project: str) -> None:
    desired = namespace_manifest(project)
    name = desired["metadata"]["name"]
    try:
        send(core.create_namespace, desired)
        return
    except ApiException as exc:
        if exc.status != 409:
            raise
    current = fetch(core.read_namespace, name)
    labels = current["metadata"].get("labels") or {}
    if _same(labels, desired["metadata"]["labels"]):
        return
    current["metadata"]["labels"] = {**labels, **desired["metadata"]["labels"]}
    send(core.replace_namespace, name, current)


def _apply(desired: dict, create: Callable, read: Callable, replace: Callable) -> None:
    """Create the object, or replace it when what the cluster holds differs; idempotent."""
    name, namespace = desired["metadata"]["name"], desired["metadata"]["namespace"]
    for _attempt in range(3):
        try:
            send(create, namespace, desired)
            return
        except ApiException as exc:
            if exc.status != 409:
                raise
        current = fetch(read, name, namespace)
        if _same(current.get("spec"), desired["spec"]) and _same(
            current["metadata"].get("labels") or {}, desired["metadata"]["labels"]
        ):
            return
        body = {
            **desired,
            "metadata": {
                **desired["metadata"],
                "resourceVersion": current["metadata"]["resourceVersion"],
            },
        }
        try:
            send(replace, name, namespace, body)
            return
        except ApiException as exc:
            if exc.status != 409:  # 409 Conflict: changed under us; read it again
                raise
    raise BackendError(gettext_noop("%(name)s kept changing while the portal updated it") % {"name": name})


def _same(current, desired) -> bool:
    """Does ``current`` (as the cluster stores it) already say what ``desired`` says? Quantities
    compare by value ("32768Mi" == "32Gi"); fields the cluster added are ignored."""
    if isinstance(desired, dict):
        return isinstance(current, dict) and all(_same(current.get(k), v) for k, v in desired.items())
    if isinstance(desired, list):
        return (
            isinstance(current, list)
            and len(current) == len(desired)
            and all(_same(c, d) for c, d in zip(current, desired, strict=True))
        )
    if isinstance(desired, str) and isinstance(current, str) and current != desired:
        try:
            return parse_quantity(current) == parse_quantity(desired)
        except ValueError:
            return False
    return current == desired
