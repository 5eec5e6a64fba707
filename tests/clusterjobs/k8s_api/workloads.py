"""apps/v1 Deployments and v1 Services in the test API server: their server-side defaults, merge
patches, and the Deployment controller's status, which a test sets (a rollout that completes, or
one that stops progressing past its deadline) as it does for Pods."""

from __future__ import annotations

import copy

from .protocol import invalid, not_found, now
from .validation import schema_errors


def default_workload(plural: str, obj: dict) -> None:
    """What the API server adds to a Deployment or a Service it stores."""
    spec = obj.setdefault("spec", {})
    if plural == "deployments":
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        pod_spec = spec.get("template", {}).get("spec", {})
        pod_spec.setdefault("restartPolicy", "Always")
        pod_spec.setdefault("dnsPolicy", "ClusterFirst")
        pod_spec.setdefault("terminationGracePeriodSeconds", 30)
    elif plural == "services":
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        spec.setdefault("clusterIP", "10.96.0.10")
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
        obj["status"] = {"loadBalancer": {}}


def merge(current, patch):
    """A JSON merge patch (RFC 7386), which is what a strategic merge patch of scalars is too."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(current) if isinstance(current, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


class Workloads:
    """Mixed into FakeKubernetes: PATCH, and the test hooks of the Deployment controller."""

    def patch(self, plural: str, namespace: str, name: str, body: dict) -> dict:
        with self.lock:
            current = self.objects[plural].get((namespace, name))
            if current is None:
                raise not_found(plural, name)
            changed = merge(current, {k: v for k, v in body.items() if k not in ("status", "metadata")})
        if self.check_schema:
            errors = schema_errors({k: v for k, v in changed.items() if k != "status"})
            if errors:
                raise invalid(plural, name, errors)
        with self.lock:
            if changed.get("spec") != current.get("spec"):
                changed["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
            self.objects[plural][(namespace, name)] = changed
            self._emit(plural, "MODIFIED", changed)
            return copy.deepcopy(changed)

    def set_rollout(self, namespace: str, name: str, **status) -> dict:
        """Replace parts of a Deployment's status (readyReplicas, updatedReplicas,
        observedGeneration, conditions...)."""

        def change(obj: dict) -> None:
            obj.setdefault("status", {}).update(copy.deepcopy(status))

        return self.update_status("deployments", namespace, name, change)

    def complete_rollout(self, namespace: str, name: str) -> dict:
        """The controller's status once every replica of the current template is ready."""
        obj = self.get("deployments", namespace, name)
        replicas = obj["spec"]["replicas"]
        return self.set_rollout(
            namespace,
            name,
            observedGeneration=obj["metadata"]["generation"],
            replicas=replicas,
            updatedReplicas=replicas,
            readyReplicas=replicas,
            availableReplicas=replicas,
            conditions=[_condition("Progressing", "True", "NewReplicaSetAvailable", "rolled out")],
        )

    def stall_rollout(self, namespace: str, name: str, message: str) -> dict:
        """The new ReplicaSet never became ready before progressDeadlineSeconds: the controller
        says so in the Progressing condition, the old replicas still serving."""
        obj = self.get("deployments", namespace, name)
        return self.set_rollout(
            namespace,
            name,
            observedGeneration=obj["metadata"]["generation"],
            updatedReplicas=1,
            conditions=[_condition("Progressing", "False", "ProgressDeadlineExceeded", message)],
        )


def _condition(type_: str, status: str, reason: str, message: str) -> dict:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastUpdateTime": now(),
        "lastTransitionTime": now(),
    }
