"""The fake cluster's state and behaviour: its store, the API verbs, and what the Job controller,
the garbage collector and quota admission do."""

from __future__ import annotations

import base64
import copy
import json
import secrets
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from decimal import Decimal
from http.server import ThreadingHTTPServer
from urllib.parse import urlsplit

import orjson

from .handler import Stream, _Handler
from .protocol import (
    KINDS,
    ApiError,
    Json,
    fmt_quantity,
    invalid,
    not_found,
    now,
    quantity,
    resource_name,
    selector,
)
from .table import Table
from .validation import schema_errors, semantic_errors
from .workloads import Workloads, default_workload


class FakeKubernetes(Workloads):
    """State and behaviour of the fake cluster; ``start()`` serves it on 127.0.0.1:<free port>."""

    def __init__(
        self,
        history_limit: int = 100_000,
        simulate_pods: bool = True,
        linger_pods: bool = False,
        check_schema: bool = True,
    ) -> None:
        self.lock = threading.Condition()
        self.rv = 100
        self.objects: dict[str, Table] = {plural: Table() for plural in KINDS}
        self.history: dict[str, list[tuple[int, str, dict]]] = {plural: [] for plural in KINDS}
        self.compacted: dict[str, int] = {plural: 0 for plural in KINDS}
        self.history_limit = history_limit
        # Every manifest received over HTTP is checked by kubernetes-validate (strict) first.
        self.check_schema = check_schema
        self.simulate_pods = simulate_pods
        # A deleted Job's Pods terminate (deletionTimestamp set, still counted by the quota) until
        # end_termination(), as on a cluster where a Pod takes its grace period to stop.
        self.linger_pods = linger_pods
        self.pod_logs: dict[tuple[str, str], str] = {}
        self.requests: list[tuple[str, str]] = []
        self.streams: list[Stream] = []
        self.connections: set[socket.socket] = set()  # open client connections, cut by a restart
        self.port = 0
        self.fail_next: list[tuple[int, str]] = []  # (code, message) answered to the next requests
        self.pauses: list[tuple[str, str, threading.Event]] = []  # (verb, path prefix, until set)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- serving -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeKubernetes:
        fake = self

        class Handler(_Handler):
            server_state = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-k8s", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.drop_streams()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self.lock:
            connections = list(self.connections)
        for connection in connections:  # kept-alive connections would otherwise still be served
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def restart(self, down_seconds: float = 0.0, *, forget_history: bool = True) -> None:
        """Stop serving (every connection cut, new ones refused), wait, and serve the same state on
        the same port again, as an API server that restarts. A restarted server has lost its watch
        cache: with ``forget_history`` a watch from an earlier resourceVersion gets 410 Gone."""
        self.stop()
        if down_seconds:
            time.sleep(down_seconds)
        if forget_history:
            self.compact()
        self.start()

    def pause(self, method: str, path: str) -> threading.Event:
        """Hold the answers to ``method`` requests on paths starting with ``path`` (the request is
        carried out, its answer waits) until the returned event is set, as a slow server or a
        slow network does: what the client does meanwhile can be seen."""
        resume = threading.Event()
        with self.lock:
            self.pauses.append((method, path, resume))
        return resume

    def _held(self, method: str, path: str) -> None:
        with self.lock:
            waits = [
                event for verb, prefix, event in self.pauses if verb == method and path.startswith(prefix)
            ]
        for event in waits:
            event.wait(timeout=60)

    def requests_by_route(self, since: int = 0) -> Counter:
        """How many requests each (verb, path without query) got, from request number ``since`` on;
        a watch counts as ("WATCH", path)."""
        with self.lock:
            requests = self.requests[since:]
        return Counter(
            ("WATCH" if "watch=true" in path else method, urlsplit(path).path) for method, path in requests
        )

    def kubeconfig(self, context: str = "taller-test") -> dict:
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "portal", "user": {"token": "test-token"}}],
            "contexts": [{"name": context, "context": {"cluster": "fake", "user": "portal"}}],
            "current-context": context,
        }

    # ---- storage -------------------------------------------------------------------------------

    def _emit(self, plural: str, kind: str, obj: dict) -> None:
        """Record a change (caller holds the lock) and wake the watchers."""
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.history[plural].append((self.rv, kind, copy.deepcopy(obj)))
        if len(self.history[plural]) > self.history_limit:
            dropped = self.history[plural][: -self.history_limit]
            del self.history[plural][: -self.history_limit]
            self.compacted[plural] = dropped[-1][0]
        self.lock.notify_all()

    def _store(self, plural: str, obj: dict) -> dict:
        api_version, kind, _group = KINDS[plural]
        obj.setdefault("apiVersion", api_version)
        obj.setdefault("kind", kind)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", now())
        meta.setdefault("generation", 1)
        self.objects[plural][(meta.get("namespace", ""), meta["name"])] = obj
        self._emit(plural, "ADDED", obj)
        return obj

    def get(self, plural: str, namespace: str, name: str) -> dict | None:
        with self.lock:
            obj = self.objects[plural].get((namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def items(self, plural: str, namespace: str | None = None) -> list[dict]:
        with self.lock:
            return [
                copy.deepcopy(obj)
                for (ns, _name), obj in self.objects[plural].items()
                if namespace is None or ns == namespace
            ]

    def compact(self) -> None:
        """Forget the change history: a watch from any earlier resourceVersion gets 410 Gone."""
        with self.lock:
            self.rv += 1  # as on a busy cluster, the store has moved on since anyone last looked
            for plural in KINDS:
                self.history[plural].clear()
                self.compacted[plural] = self.rv

    def drop_streams(self) -> None:
        """Cut every open watch connection mid-stream, as a restarting API server or a proxy does."""
        with self.lock:
            for stream in self.streams:
                stream.dropped = True
            self.lock.notify_all()

    def open_streams(self) -> int:
        with self.lock:
            return len(self.streams)

    # ---- test hooks: what the cluster does to Jobs and Pods ------------------------------------

    def pods_of(self, namespace: str, job: str) -> list[dict]:
        with self.lock:
            return [
                copy.deepcopy(pod)
                for (ns, _n), pod in self.objects["pods"].items()
                if ns == namespace and pod["metadata"]["labels"].get("job-name") == job
            ]

    def update_status(self, plural: str, namespace: str, name: str, change) -> dict:
        """Apply ``change(obj)`` to a stored object and send MODIFIED to the watchers."""
        with self.lock:
            obj = self.objects[plural][(namespace, name)]
            change(obj)
            self._emit(plural, "MODIFIED", obj)
            return copy.deepcopy(obj)

    def set_job_condition(
        self, namespace: str, name: str, type_: str, reason: str = "", message: str = ""
    ) -> dict:
        def change(job: dict) -> None:
            status = job.setdefault("status", {})
            condition = {
                "type": type_,
                "status": "True",
                "lastProbeTime": now(),
                "lastTransitionTime": now(),
            }
            if reason:
                condition["reason"] = reason
            if message:
                condition["message"] = message
            status.setdefault("conditions", []).append(condition)
            status.setdefault("startTime", now())
            status["active"] = 0
            if type_ == "Complete":
                status["succeeded"] = 1
                status["completionTime"] = now()
            elif type_ == "Failed":
                status["failed"] = 1

        return self.update_status("jobs", namespace, name, change)

    def set_pod_status(self, namespace: str, job: str, **status) -> dict:
        """Replace parts of the status of the job's (newest) Pod, e.g. phase, conditions,
        containerStatuses."""
        pods = self.pods_of(namespace, job)
        assert pods, f"job {job} has no pod"
        pod = max(pods, key=lambda p: p["metadata"]["creationTimestamp"])

        def change(obj: dict) -> None:
            obj.setdefault("status", {}).update(copy.deepcopy(status))

        return self.update_status("pods", namespace, pod["metadata"]["name"], change)

    def container_state(self, namespace: str, job: str, state: dict, phase: str, **extra) -> dict:
        image = self.get("jobs", namespace, job)["spec"]["template"]["spec"]["containers"][0]["image"]
        container = {
            "name": "main",
            "image": image,
            "imageID": extra.pop("image_id", ""),
            "ready": "running" in state,
            "restartCount": 0,
            "started": "running" in state,
            "state": state,
        }
        return self.set_pod_status(namespace, job, phase=phase, containerStatuses=[container], **extra)

    def add_event(self, namespace: str, job: str, reason: str, message: str, type_: str = "Warning") -> dict:
        with self.lock:
            owner = self.objects["jobs"].get((namespace, job), {}).get("metadata", {})
            event = {
                "metadata": {"name": f"{job}.{secrets.token_hex(8)}", "namespace": namespace},
                "involvedObject": {
                    "kind": "Job",
                    "namespace": namespace,
                    "name": job,
                    "uid": owner.get("uid", ""),
                    "apiVersion": "batch/v1",
                    "resourceVersion": owner.get("resourceVersion", ""),
                },
                "reason": reason,
                "message": message,
                "source": {"component": "job-controller"},
                "firstTimestamp": now(),
                "lastTimestamp": now(),
                "count": 1,
                "type": type_,
                "reportingComponent": "job-controller",
            }
            return copy.deepcopy(self._store("events", event))

    # ---- the API ---------------------------------------------------------------------------------

    def received(self, plural: str, body: dict) -> None:
        """A manifest received over HTTP, before it is created or replaced: 422 when it breaks the
        strict schema of its kind (kubernetes-validate). Checked without the lock: it takes ms."""
        if not self.check_schema:
            return
        api_version, kind, _group = KINDS[plural]
        errors = schema_errors({"apiVersion": api_version, "kind": kind, **body})
        if errors:
            raise invalid(plural, (body.get("metadata") or {}).get("name", ""), errors)

    def create(self, plural: str, namespace: str, body: dict) -> dict:
        with self.lock:
            meta = body.setdefault("metadata", {})
            name = meta.get("name", "")
            if plural != "namespaces":
                if ("", namespace) not in self.objects["namespaces"]:
                    raise not_found("namespaces", namespace)
                meta["namespace"] = namespace
            errors = semantic_errors(plural, body)
            if errors:
                raise invalid(plural, name, errors)
            if plural == "jobs":
                self._admit_job(namespace, name)
            if (meta.get("namespace", ""), name) in self.objects[plural]:
                raise ApiError(
                    409,
                    "AlreadyExists",
                    f'{resource_name(plural)} "{name}" already exists',
                    {"name": name, "group": KINDS[plural][2], "kind": plural},
                )
            self._default(plural, body)
            obj = self._store(plural, body)
            if plural == "jobs" and self.simulate_pods:
                self._start_pod(obj)
            return copy.deepcopy(obj)

    def replace(self, plural: str, namespace: str, name: str, body: dict) -> dict:
        with self.lock:
            current = self.objects[plural].get((namespace, name))
            if current is None:
                raise not_found(plural, name)
            given = body.get("metadata", {}).get("resourceVersion")
            if given and given != current["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {resource_name(plural)} "{name}": the object has '
                    "been modified; please apply your changes to the latest version and try again",
                    {"name": name, "group": KINDS[plural][2], "kind": plural},
                )
            errors = semantic_errors(plural, body)
            if errors:
                raise invalid(plural, name, errors)
            meta = body.setdefault("metadata", {})
            for key in ("uid", "creationTimestamp", "namespace"):
                if key in current["metadata"]:
                    meta[key] = current["metadata"][key]
            meta["generation"] = current["metadata"].get("generation", 1) + 1
            body.setdefault("apiVersion", current["apiVersion"])
            body.setdefault("kind", current["kind"])
            self._default(plural, body)
            if plural not in ("resourcequotas", "secrets"):
                body["status"] = current.get("status", {})
            self.objects[plural][(namespace, name)] = body
            self._emit(plural, "MODIFIED", body)
            return copy.deepcopy(body)

    def delete(self, plural: str, namespace: str, name: str, policy: str) -> dict:
        with self.lock:
            obj = self.objects[plural].pop((namespace, name), None)
            if obj is None:
                raise not_found(plural, name)
            self._emit(plural, "DELETED", obj)
            if plural == "services":  # answered with the Service deleted, as a real server does
                return copy.deepcopy(obj)
            if plural == "jobs" and policy in ("Background", "Foreground"):
                for key, pod in self.objects["pods"].in_namespace(namespace):
                    if pod["metadata"]["labels"].get("job-name") == name:
                        if self.linger_pods:
                            pod["metadata"]["deletionTimestamp"] = now()
                            pod["metadata"]["deletionGracePeriodSeconds"] = 30
                            self._emit("pods", "MODIFIED", pod)
                        else:
                            del self.objects["pods"][key]
                            self._emit("pods", "DELETED", pod)
                self._collect_dependents(namespace, obj["metadata"]["uid"])
            return {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {
                    "name": name,
                    "group": KINDS[plural][2],
                    "kind": plural,
                    "uid": obj["metadata"]["uid"],
                },
            }

    def _collect_dependents(self, namespace: str, owner_uid: str) -> None:
        """The garbage collector: objects whose owner is gone go too (caller holds the lock)."""
        for plural in ("secrets",):
            for key, obj in self.objects[plural].in_namespace(namespace):
                owners = obj["metadata"].get("ownerReferences") or []
                if any(ref.get("uid") == owner_uid for ref in owners):
                    del self.objects[plural][key]
                    self._emit(plural, "DELETED", obj)

    def container_env(self, namespace: str, job: str) -> dict[str, str]:
        """The environment the kubelet gives the Job's container: plain values, and values taken
        from Secrets by ``secretKeyRef`` (KeyError when the Secret or its key is missing)."""
        container = self.get("jobs", namespace, job)["spec"]["template"]["spec"]["containers"][0]
        env = {}
        for entry in container.get("env") or []:
            if "valueFrom" in entry:
                ref = entry["valueFrom"]["secretKeyRef"]
                secret = self.get("secrets", namespace, ref["name"])
                if secret is None:
                    raise KeyError(f"secret {ref['name']} not found")
                env[entry["name"]] = base64.b64decode(secret["data"][ref["key"]]).decode()
            else:
                env[entry["name"]] = entry.get("value", "")
        return env

    def terminating_pods(self) -> list[dict]:
        with self.lock:
            return [
                copy.deepcopy(pod)
                for pod in self.objects["pods"].values()
                if pod["metadata"].get("deletionTimestamp")
            ]

    def end_termination(self) -> int:
        """The terminating Pods have stopped: they are gone (DELETED), and no longer counted."""
        with self.lock:
            gone = [
                key for key, pod in self.objects["pods"].items() if pod["metadata"].get("deletionTimestamp")
            ]
            for key in gone:
                self._emit("pods", "DELETED", self.objects["pods"].pop(key))
            return len(gone)

    def pod_log(self, namespace: str, name: str, tail: int | None) -> str:
        with self.lock:
            pod = self.objects["pods"].get((namespace, name))
            if pod is None:
                raise not_found("pods", name)
            text = self.pod_logs.get((namespace, name))
            if text is None:
                statuses = pod.get("status", {}).get("containerStatuses") or [{}]
                waiting = statuses[0].get("state", {}).get("waiting", {"reason": "ContainerCreating"})
                raise ApiError(
                    400,
                    "BadRequest",
                    f'container "main" in pod "{name}" is waiting to start: {waiting.get("reason", "")}',
                )
        lines = text.splitlines(keepends=True)
        return "".join(lines[-tail:] if tail is not None else lines)

    def set_log(self, namespace: str, job: str, text: str) -> None:
        pod = self.pods_of(namespace, job)[0]
        with self.lock:
            self.pod_logs[(namespace, pod["metadata"]["name"])] = text

    # ---- what the real API server and controllers add --------------------------------------------

    def _default(self, plural: str, obj: dict) -> None:
        meta = obj["metadata"]
        obj.setdefault("status", {})
        if plural == "namespaces":
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj["status"] = {"phase": "Active"}
        elif plural == "jobs":
            spec = obj["spec"]
            spec.setdefault("parallelism", 1)
            spec.setdefault("completions", 1)
            spec.setdefault("backoffLimit", 6)
            spec.setdefault("completionMode", "NonIndexed")
            spec.setdefault("suspend", False)
            spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
            uid = meta.setdefault("uid", str(uuid.uuid4()))
            selector = {"batch.kubernetes.io/controller-uid": uid}
            spec.setdefault("selector", {"matchLabels": selector})
            template_labels = spec["template"].setdefault("metadata", {}).setdefault("labels", {})
            template_labels.update(
                {
                    "batch.kubernetes.io/controller-uid": uid,
                    "batch.kubernetes.io/job-name": meta["name"],
                    "controller-uid": uid,
                    "job-name": meta["name"],
                }
            )
            pod_spec = spec["template"]["spec"]
            pod_spec.setdefault("dnsPolicy", "ClusterFirst")
            pod_spec.setdefault("schedulerName", "default-scheduler")
            pod_spec.setdefault("terminationGracePeriodSeconds", 30)
            for container in pod_spec.get("containers", []):
                container.setdefault("terminationMessagePath", "/dev/termination-log")
                container.setdefault("terminationMessagePolicy", "File")
                container.setdefault("imagePullPolicy", "IfNotPresent")
        elif plural in ("deployments", "services"):
            default_workload(plural, obj)
        elif plural == "resourcequotas":
            hard = obj.get("spec", {}).get("hard", {})
            obj["status"] = {"hard": dict(hard), "used": {key: "0" for key in hard}}
        elif plural == "secrets":
            # stringData is write-only: the API server stores it, base64-encoded, in data.
            obj.pop("status", None)
            obj.setdefault("type", "Opaque")
            data = obj.setdefault("data", {})
            for key, value in (obj.pop("stringData", None) or {}).items():
                data[key] = base64.b64encode(value.encode()).decode()

    def _quota_refusal(self, namespace: str, requested: dict[str, Decimal], usage) -> str | None:
        """The upstream quota admission message for the first ResourceQuota that ``requested``
        does not fit, or None. ``usage(resource)`` is what is in use now."""
        for (ns, quota_name), quota in sorted(self.objects["resourcequotas"].items()):
            if ns != namespace:
                continue
            hard = quota.get("spec", {}).get("hard", {})
            over = sorted(
                key
                for key, amount in requested.items()
                if key in hard and usage(key) + amount > quantity(hard[key])
            )
            if over:

                def fmt(values: Iterable[tuple[str, Decimal | str]]) -> str:
                    return ",".join(f"{key}={fmt_quantity(value)}" for key, value in values)

                return (
                    f"exceeded quota: {quota_name}, requested: {fmt((k, requested[k]) for k in over)}, "
                    f"used: {fmt((k, usage(k)) for k in over)}, limited: {fmt((k, hard[k]) for k in over)}"
                )
        return None

    def _has_quota(self, namespace: str) -> bool:
        return self.objects["resourcequotas"].count(namespace) > 0

    def _admit_job(self, namespace: str, name: str) -> None:
        if not self._has_quota(namespace):
            return
        count = self.objects["jobs"].count(namespace)
        refusal = self._quota_refusal(namespace, {"count/jobs.batch": Decimal(1)}, lambda key: Decimal(count))
        if refusal:
            raise ApiError(
                403,
                "Forbidden",
                f'jobs.batch "{name}" is forbidden: {refusal}',
                {"name": name, "group": "batch", "kind": "jobs"},
            )

    def _start_pod(self, job: dict) -> None:
        """What the Job controller does: create the Pod, or report FailedCreate on the Job."""
        meta = job["metadata"]
        namespace = meta["namespace"]
        template = copy.deepcopy(job["spec"]["template"])
        pod_name = f"{meta['name']}-{secrets.token_hex(3)[:5]}"

        def active() -> list[dict]:
            return [
                pod
                for _key, pod in self.objects["pods"].in_namespace(namespace)
                if pod.get("status", {}).get("phase") not in ("Succeeded", "Failed")
            ]

        def pod_requests(pod_spec: dict) -> dict[str, Decimal]:
            total: dict[str, Decimal] = {"pods": Decimal(1), "count/pods": Decimal(1)}
            for container in pod_spec.get("containers", []):
                resources = container.get("resources") or {}
                for field in ("requests", "limits"):
                    for key, value in (resources.get(field) or {}).items():
                        total[f"{field}.{key}"] = total.get(f"{field}.{key}", Decimal(0)) + quantity(value)
            return total

        requested = pod_requests(template["spec"])
        refusal = None
        if self._has_quota(namespace):
            used = [pod_requests(pod["spec"]) for pod in active()]
            refusal = self._quota_refusal(
                namespace, requested, lambda key: sum((u.get(key, Decimal(0)) for u in used), Decimal(0))
            )
        if refusal:  # the lock is reentrant
            self.add_event(
                namespace,
                meta["name"],
                "FailedCreate",
                f'Error creating: pods "{pod_name}" is forbidden: {refusal}',
            )
            return
        pod = {
            "metadata": {
                "name": pod_name,
                "namespace": namespace,
                "labels": template["metadata"]["labels"],
                "annotations": template["metadata"].get("annotations", {}),
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": template["spec"],
            "status": {"phase": "Pending", "qosClass": "Guaranteed"},
        }
        self._store("pods", pod)
        job.setdefault("status", {}).update({"active": 1, "startTime": now()})
        self._emit("jobs", "MODIFIED", job)

    # ---- lists and watches ---------------------------------------------------------------------

    def list(
        self, plural: str, namespace: str | None, labels: str, fields: str, limit: int = 0, token: str = ""
    ) -> Json:
        """The selected objects in (namespace, name) order; with ``limit``, one page of them and a
        ``continue`` token that resumes after its last key (pages after the first read the store as
        it is then, and carry the first page's resourceVersion, as a real server's continuation
        does). Like a real server's watch cache, it walks the sorted keys from where the page
        starts, applying the selectors, only until the page is full."""
        selected = selector(labels, fields)
        with self.lock:
            version, after = self.rv, None
            if token:
                try:
                    position = json.loads(base64.urlsafe_b64decode(token))
                    version, after = int(position["rv"]), tuple(position["after"])
                except (ValueError, KeyError, TypeError) as error:
                    raise ApiError(400, "BadRequest", f"invalid continue token: {error}") from error
                if version < self.compacted[plural]:
                    raise ApiError(
                        410,
                        "Expired",
                        "The provided continue parameter is too old to display a consistent list result.",
                    )
            table = self.objects[plural]
            start, end = table.span(namespace, after)
            page: list[dict] = []
            last, more = None, False
            for key, obj in table.walk(start, end):
                if not selected(obj):
                    continue
                if limit and len(page) == limit:
                    more = True
                    break
                # The answer is serialized while the store cannot change: it is its own copy.
                page.append({k: v for k, v in obj.items() if k not in ("apiVersion", "kind")})
                last = key
            metadata: dict = {"resourceVersion": str(version)}
            if more:
                metadata["continue"] = base64.urlsafe_b64encode(
                    json.dumps({"rv": version, "after": list(last)}).encode()
                ).decode()
                if not labels and not fields:  # a real server counts only what needs no filtering
                    metadata["remainingItemCount"] = end - table.span(namespace, last)[0]
            api_version, kind, _group = KINDS[plural]
            return Json(
                orjson.dumps(
                    {"kind": f"{kind}List", "apiVersion": api_version, "metadata": metadata, "items": page}
                )
            )
