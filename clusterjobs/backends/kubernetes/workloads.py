"""Long-running workloads on the cluster: an apps/v1 Deployment with its Secret and Service, as
the deployments app builds them, applied, rolled, scaled and removed with the same bounded
requests and error translation as Jobs (``calls``), and the Deployment controller's status read
as the state of its rollout.

Callers hand over finished manifests (plain dicts) and get plain dicts back: the `kubernetes`
client stays in this package.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_noop
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from ..base import BackendError
from .backend import KubernetesBackend
from .calls import fetch, send, translated

# How the controller says a rollout gave up: the Progressing condition False with this reason.
DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"


@dataclass(frozen=True)
class Rollout:
    """Where a Deployment's rollout stands: ``done`` when every replica runs the current template
    and is ready; ``failed`` (with the controller's ``message``) when it stopped progressing."""

    done: bool
    failed: bool
    ready: int
    message: str = ""


def rollout(obj: dict) -> Rollout:
    """The rollout of a Deployment as the cluster holds it (kubectl rollout status's rules)."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    wanted = int(spec.get("replicas", 1))
    ready = int(status.get("readyReplicas") or 0)
    observed = int(status.get("observedGeneration") or 0) >= int(obj["metadata"].get("generation", 1))
    if not observed:  # what the status says is of an earlier template
        return Rollout(False, False, ready)
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == DEADLINE_EXCEEDED:
            return Rollout(False, True, ready, condition.get("message") or DEADLINE_EXCEEDED)
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or updated)
    done = updated >= wanted and total <= updated and ready >= wanted
    return Rollout(done, False, ready)


class Workloads:
    """The calls; one instance per backend (it shares the backend's API client)."""

    def __init__(self, backend: KubernetesBackend) -> None:
        self.backend = backend

    def _apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.backend._api())

    def _core(self) -> client.CoreV1Api:
        return self.backend._core()

    def read(self, namespace: str, name: str) -> dict | None:
        """The Deployment as the cluster holds it, or None when there is none."""
        with translated(gettext_noop("reading Deployment %(name)s") % {"name": name}):
            try:
                return fetch(self._apps().read_namespaced_deployment, name, namespace)
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise

    def create(self, secret: dict, deployment: dict, service: dict) -> dict:
        """The Secret, the Deployment and the Service (each found when an earlier attempt made
        it: a retry after a lost answer creates nothing twice); the Deployment as created."""
        name, namespace = deployment["metadata"]["name"], deployment["metadata"]["namespace"]
        core, apps = self._core(), self._apps()
        with translated(gettext_noop("creating Deployment %(name)s") % {"name": name}, sends_body=True):
            _create_or_replace(core.create_namespaced_secret, core.replace_namespaced_secret, secret)
            _create(core.create_namespaced_service, service)
            created = _create(apps.create_namespaced_deployment, deployment)
        return created or fetch(apps.read_namespaced_deployment, name, namespace)

    def replace(self, current: dict, desired: dict) -> dict:
        """Replace the Deployment's spec (a new pod template starts a rolling update), against
        the resourceVersion read: 409 when it changed meanwhile, tried again on the next look."""
        name = desired["metadata"]["name"]
        body = {
            **desired,
            "metadata": {**desired["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]},
        }
        with translated(gettext_noop("updating Deployment %(name)s") % {"name": name}, sends_body=True):
            return fetch(
                self._apps().replace_namespaced_deployment, name, desired["metadata"]["namespace"], body
            )

    def scale(self, namespace: str, name: str, replicas: int) -> dict:
        with translated(gettext_noop("scaling Deployment %(name)s") % {"name": name}):
            return fetch(
                self._apps().patch_namespaced_deployment, name, namespace, {"spec": {"replicas": replicas}}
            )

    def remove(self, namespace: str, name: str) -> None:
        """The Deployment (its Pods with it), the Service and the Secret; those already gone are
        fine."""
        core, apps = self._core(), self._apps()
        with translated(gettext_noop("removing Deployment %(name)s") % {"name": name}):
            for delete in (
                apps.delete_namespaced_deployment,
                core.delete_namespaced_service,
                core.delete_namespaced_secret,
            ):
                try:
                    send(delete, name, namespace, body={"propagationPolicy": "Background"})
                except ApiException as exc:
                    if exc.status != 404:
                        raise


def _create(create, manifest: dict) -> dict | None:
    """Create it; None when it is there already."""
    try:
        return fetch(create, manifest["metadata"]["namespace"], manifest)
    except ApiException as exc:
        if exc.status == 409:
            return None
        raise


def _create_or_replace(create, replace, manifest: dict) -> None:
    if _create(create, manifest) is None:
        meta = manifest["metadata"]
        send(replace, meta["name"], meta["namespace"], manifest)


def workloads(backend) -> Workloads:
    if not isinstance(backend, KubernetesBackend):
        raise BackendError(gettext_noop("the site's executor does not run on Kubernetes"), permanent=True)
    return Workloads(backend)
