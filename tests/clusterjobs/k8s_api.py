"""A small Kubernetes API server for the tests: the real `kubernetes` client talks to it over HTTP.

It speaks the parts of the REST and watch protocol the portal uses (namespaces, batch/v1 Jobs,
Pods and their logs, core/v1 Events, ResourceQuotas, LimitRanges, Secrets) and answers the way a real API
server does: 201 with server-side defaults filled in, 404/409/422/403 as ``Status`` objects with
upstream wording, newline-delimited watch streams with resourceVersions, and a 410 ``Expired``
ERROR event for a resourceVersion older than the retained history, and lists in pages
(``limit`` and ``continue``, across namespaces). It also plays the Job controller (a Pod per new
Job, or a ``FailedCreate`` event when the namespace's ResourceQuota refuses the Pod) and the
garbage collector (deleting a Job deletes the objects it owns; its Pods go at once, or, with
``linger_pods``, terminate and stay counted by the quota until ``end_termination()``), and lets
tests move Jobs and Pods through their states, add Events, compact the history, drop open watch
streams, restart the server (every connection cut, the port refused, then served again on the
same port) and count the requests per verb and path.
"""

from __future__ import annotations

import base64
import bisect
import copy
import json
import re
import secrets
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import orjson

# plural -> (apiVersion, kind, group); what the server stores.
KINDS = {
    "namespaces": ("v1", "Namespace", ""),
    "jobs": ("batch/v1", "Job", "batch"),
    "pods": ("v1", "Pod", ""),
    "events": ("v1", "Event", ""),
    "resourcequotas": ("v1", "ResourceQuota", ""),
    "limitranges": ("v1", "LimitRange", ""),
    "secrets": ("v1", "Secret", ""),
}
API_PREFIX = {"": "/api/v1", "batch": "/apis/batch/v1"}

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
    "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
ENV_NAME_MSG = (
    "a valid environment variable name must consist only of printable ASCII characters other than '='"
)
CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
CONFIG_KEY_MSG = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  "
    "or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
)
NATIVE = {"cpu", "memory", "ephemeral-storage"}
SUFFIXES = {
    "m": Decimal("0.001"),
    "": Decimal(1),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
}
QUANTITY = re.compile(r"^([+-]?[0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti|)$")


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def quantity(value) -> Decimal | None:
    match = QUANTITY.match(str(value))
    if not match:
        return None
    return Decimal(match.group(1)) * SUFFIXES[match.group(2)]


def status_body(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure" if code >= 300 else "Success",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        body["details"] = details
    return body


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.body = status_body(code, reason, message, details)
        self.code = code


def resource_name(plural: str) -> str:
    group = KINDS[plural][2]
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{resource_name(plural)} "{name}" not found',
        {"name": name, "group": KINDS[plural][2], "kind": plural},
    )


def invalid(plural: str, name: str, errors: list[tuple[str, str]]) -> ApiError:
    """422 with the upstream wording: `Job.batch "x" is invalid: <field>: <detail>[, ...]`."""
    api_version, kind, group = KINDS[plural]
    qualified = f"{kind}.{group}" if group else kind
    texts = [f"{field}: {detail}" for field, detail in errors]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    causes = [{"reason": "FieldValueInvalid", "message": detail, "field": field} for field, detail in errors]
    return ApiError(
        422,
        "Invalid",
        f'{qualified} "{name}" is invalid: {joined}',
        {"name": name, "group": group, "kind": kind, "causes": causes},
    )


def match_labels(labels: dict, selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.split("=", 1)
            if labels.get(key.rstrip("=")) != value:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def match_fields(obj: dict, selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        negate = "!=" in term
        key, value = term.split("!=" if negate else "=", 1)
        current: object = obj
        for part in key.rstrip("=").split("."):
            current = current.get(part) if isinstance(current, dict) else None
        if (str(current) == value) == negate:
            return False
    return True


class _Stream:
    """An open watch connection; the test can drop it."""

    def __init__(self, handler: BaseHTTPRequestHandler) -> None:
        self.handler = handler
        self.dropped = False


class FakeKubernetes:
    """State and behaviour of the fake cluster; ``start()`` serves it on 127.0.0.1:<free port>."""

    def __init__(
        self, history_limit: int = 100_000, simulate_pods: bool = True, linger_pods: bool = False
    ) -> None:
        self.lock = threading.Condition()
        self.rv = 100
        self.objects: dict[str, dict[tuple[str, str], dict]] = {plural: {} for plural in KINDS}
        self.history: dict[str, list[tuple[int, str, dict]]] = {plural: [] for plural in KINDS}
        self.compacted: dict[str, int] = {plural: 0 for plural in KINDS}
        self.history_limit = history_limit
        self.simulate_pods = simulate_pods
        # A deleted Job's Pods terminate (deletionTimestamp set, still counted by the quota) until
        # end_termination(), as on a cluster where a Pod takes its grace period to stop.
        self.linger_pods = linger_pods
        self.pod_logs: dict[tuple[str, str], str] = {}
        self.requests: list[tuple[str, str]] = []
        self.streams: list[_Stream] = []
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

    def create(self, plural: str, namespace: str, body: dict) -> dict:
        with self.lock:
            meta = body.setdefault("metadata", {})
            name = meta.get("name", "")
            if plural != "namespaces":
                if ("", namespace) not in self.objects["namespaces"]:
                    raise not_found("namespaces", namespace)
                meta["namespace"] = namespace
            errors = self._validate(plural, body)
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
            errors = self._validate(plural, body)
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
            if plural == "jobs" and policy in ("Background", "Foreground"):
                for key, pod in list(self.objects["pods"].items()):
                    if key[0] == namespace and pod["metadata"]["labels"].get("job-name") == name:
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
            for key, obj in list(self.objects[plural].items()):
                owners = obj["metadata"].get("ownerReferences") or []
                if key[0] == namespace and any(ref.get("uid") == owner_uid for ref in owners):
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

    def _validate(self, plural: str, obj: dict) -> list[tuple[str, str]]:
        errors: list[tuple[str, str]] = []
        meta = obj.get("metadata", {})
        name = meta.get("name", "")
        if not name:
            errors.append(("metadata.name", "Required value: name or generateName is required"))
        elif plural == "namespaces" and (len(name) > 63 or not DNS1123_LABEL.match(name)):
            errors.append(("metadata.name", f'Invalid value: "{name}": {LABEL_MSG}'))
        elif plural != "namespaces" and not DNS1123_SUBDOMAIN.match(name):
            errors.append(("metadata.name", f'Invalid value: "{name}": {SUBDOMAIN_MSG}'))
        elif plural == "jobs" and len(name) > 63:
            errors.append(("metadata.name", f'Invalid value: "{name}": must be no more than 63 characters'))
        for value in (meta.get("labels") or {}).values():
            if not LABEL_VALUE.match(str(value)) or len(str(value)) > 63:
                errors.append(("metadata.labels", f'Invalid value: "{value}": {LABEL_VALUE_MSG}'))
        for i, ref in enumerate(meta.get("ownerReferences") or []):
            for field in ("apiVersion", "kind", "name", "uid"):
                if not ref.get(field):
                    errors.append((f"metadata.ownerReferences[{i}].{field}", "Required value"))
        if plural == "secrets":
            for field in ("data", "stringData"):
                for key in obj.get(field) or {}:
                    if not CONFIG_KEY.match(key):
                        errors.append((f"{field}[{key}]", f'Invalid value: "{key}": {CONFIG_KEY_MSG}'))
        if plural == "jobs":
            errors += self._validate_job(obj.get("spec") or {})
        elif plural == "resourcequotas":
            for key, value in (obj.get("spec", {}).get("hard") or {}).items():
                if quantity(value) is None:
                    errors.append((f"spec.hard[{key}]", f'Invalid value: "{value}": must be a quantity'))
        elif plural == "limitranges":
            for i, item in enumerate(obj.get("spec", {}).get("limits") or []):
                maxima = item.get("max") or {}
                for field in ("default", "defaultRequest"):
                    for key, value in (item.get(field) or {}).items():
                        if key in maxima and quantity(value) > quantity(maxima[key]):
                            errors.append(
                                (
                                    f"spec.limits[{i}].{field}[{key}]",
                                    f'Invalid value: "{value}": {field} value {value} is greater than '
                                    f"max value {maxima[key]}",
                                )
                            )
        return errors

    def _validate_job(self, spec: dict) -> list[tuple[str, str]]:
        errors: list[tuple[str, str]] = []
        for field in ("backoffLimit", "ttlSecondsAfterFinished"):
            if spec.get(field, 0) < 0:
                errors.append(
                    (f"spec.{field}", f"Invalid value: {spec[field]}: must be greater than or equal to 0")
                )
        if "activeDeadlineSeconds" in spec and spec["activeDeadlineSeconds"] < 1:
            errors.append(
                (
                    "spec.activeDeadlineSeconds",
                    f"Invalid value: {spec['activeDeadlineSeconds']}: must be greater than or equal to 1",
                )
            )
        pod = (spec.get("template") or {}).get("spec") or {}
        base = "spec.template.spec"
        policy = pod.get("restartPolicy")
        if policy not in ("Never", "OnFailure"):
            errors.append(
                (
                    f"{base}.restartPolicy",
                    f'Unsupported value: "{policy}": supported values: "OnFailure", "Never"'
                    if policy
                    else 'Required value: valid values: "OnFailure", "Never"',
                )
            )
        volumes = {volume.get("name") for volume in pod.get("volumes") or []}
        containers = pod.get("containers") or []
        if not containers:
            errors.append((f"{base}.containers", "Required value"))
        for i, container in enumerate(containers):
            path = f"{base}.containers[{i}]"
            if not DNS1123_LABEL.match(container.get("name", "")):
                errors.append((f"{path}.name", f'Invalid value: "{container.get("name", "")}": {LABEL_MSG}'))
            image = container.get("image", "")
            if not image:
                errors.append((f"{path}.image", "Required value"))
            elif image != image.strip():
                errors.append(
                    (
                        f"{path}.image",
                        f'Invalid value: "{image}": must not have leading or trailing whitespace',
                    )
                )
            for j, env in enumerate(container.get("env") or []):
                env_name = env.get("name", "")
                if not env_name or "=" in env_name or not env_name.isprintable() or not env_name.isascii():
                    errors.append((f"{path}.env[{j}].name", f'Invalid value: "{env_name}": {ENV_NAME_MSG}'))
            for j, mount in enumerate(container.get("volumeMounts") or []):
                if mount.get("name") not in volumes:
                    errors.append((f"{path}.volumeMounts[{j}].name", f'Not found: "{mount.get("name")}"'))
            errors += self._validate_resources(container.get("resources") or {}, f"{path}.resources")
        return errors

    @staticmethod
    def _validate_resources(resources: dict, path: str) -> list[tuple[str, str]]:
        """Upstream ValidateResourceRequirements: integers for extended resources, requests equal to
        limits where overcommit is not allowed, requests not above limits otherwise."""
        errors: list[tuple[str, str]] = []
        requests = resources.get("requests") or {}
        limits = resources.get("limits") or {}
        for field, values in (("limits", limits), ("requests", requests)):
            for key, value in values.items():
                amount = quantity(value)
                if amount is None:
                    errors.append(
                        (
                            f"{path}.{field}[{key}]",
                            f'Invalid value: "{value}": quantities must match the regular expression',
                        )
                    )
                elif key not in NATIVE and amount != amount.to_integral_value():
                    errors.append((f"{path}.{field}[{key}]", f'Invalid value: "{value}": must be an integer'))
        for key, value in requests.items():
            request, limit = quantity(value), quantity(limits.get(key, ""))
            if request is None:
                continue
            if key in limits and limit is not None:
                if key not in NATIVE and request != limit:
                    errors.append(
                        (
                            f"{path}.requests",
                            f'Invalid value: "{value}": must be equal to {key} limit of {limits[key]}',
                        )
                    )
                elif request > limit:
                    errors.append(
                        (
                            f"{path}.requests",
                            f'Invalid value: "{value}": must be less than or equal to {key} limit of {limits[key]}',
                        )
                    )
            elif key not in NATIVE:
                errors.append(
                    (f"{path}.limits", "Required value: Limit must be set for non overcommitable resources")
                )
        return errors

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
                    return ",".join(f"{key}={_fmt_quantity(value)}" for key, value in values)

                return (
                    f"exceeded quota: {quota_name}, requested: {fmt((k, requested[k]) for k in over)}, "
                    f"used: {fmt((k, usage(k)) for k in over)}, limited: {fmt((k, hard[k]) for k in over)}"
                )
        return None

    def _has_quota(self, namespace: str) -> bool:
        return any(ns == namespace for (ns, _n) in self.objects["resourcequotas"])

    def _admit_job(self, namespace: str, name: str) -> None:
        if not self._has_quota(namespace):
            return
        count = sum(1 for (ns, _n) in self.objects["jobs"] if ns == namespace)
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
                for (ns, _n), pod in self.objects["pods"].items()
                if ns == namespace and pod.get("status", {}).get("phase") not in ("Succeeded", "Failed")
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
    ) -> _Json:
        """The selected objects in (namespace, name) order; with ``limit``, one page of them and a
        ``continue`` token for the next (pages after the first read the store as it is then, and
        carry the first page's resourceVersion, as a real server's continuation does)."""
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
            keys = sorted(
                key
                for key, obj in self.objects[plural].items()
                if (namespace is None or key[0] == namespace)
                and (after is None or key > after)
                and self._selected(obj, labels, fields)
            )
            page = keys[:limit] if limit else keys
            metadata: dict = {"resourceVersion": str(version)}
            if limit and len(keys) > limit:
                metadata["continue"] = base64.urlsafe_b64encode(
                    json.dumps({"rv": version, "after": list(page[-1])}).encode()
                ).decode()
                metadata["remainingItemCount"] = len(keys) - limit
            api_version, kind, _group = KINDS[plural]
            # Serialized while the store cannot change: the answer is its own copy.
            return _Json(
                orjson.dumps(
                    {
                        "kind": f"{kind}List",
                        "apiVersion": api_version,
                        "metadata": metadata,
                        "items": [
                            {
                                k: v
                                for k, v in self.objects[plural][key].items()
                                if k not in ("apiVersion", "kind")
                            }
                            for key in page
                        ],
                    }
                )
            )

    @staticmethod
    def _selected(obj: dict, labels: str, fields: str) -> bool:
        return match_labels(obj["metadata"].get("labels") or {}, labels) and match_fields(obj, fields)


class _Json:
    """An answer already serialized."""

    def __init__(self, data: bytes) -> None:
        self.data = data


def _fmt_quantity(value) -> str:
    if isinstance(value, str):
        return value
    return str(value.normalize().to_integral_value()) if value == value.to_integral_value() else str(value)


class _Handler(BaseHTTPRequestHandler):
    server_state: FakeKubernetes
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        return

    def setup(self) -> None:
        super().setup()
        with self.server_state.lock:
            self.server_state.connections.add(self.connection)

    def finish(self) -> None:
        with self.server_state.lock:
            self.server_state.connections.discard(self.connection)
        try:
            super().finish()
        except OSError:  # cut by a restart
            pass

    def _send_json(self, code: int, body: dict | _Json) -> None:
        data = body.data if isinstance(body, _Json) else json.dumps(body).encode()
        self.server_state._held(self.command, self.path)
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}") if length else {}

    def _route(self) -> tuple[str, str | None, str | None, str | None, dict]:
        """(plural, namespace, name, subresource, query) of the request path."""
        parts = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        path = parts.path
        for prefix in ("/api/v1", "/apis/batch/v1"):
            if path.startswith(prefix + "/"):
                rest = path[len(prefix) + 1 :].split("/")
                break
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if rest[0] == "namespaces" and (len(rest) <= 2):
            return "namespaces", None, rest[1] if len(rest) == 2 else None, None, query
        if rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        else:
            namespace = None
        plural = rest[0]
        if plural not in KINDS or (prefix == "/apis/batch/v1") != (plural == "jobs"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        return plural, namespace, name, sub, query

    def _handle(self, method: str) -> None:
        state = self.server_state
        with state.lock:
            state.requests.append((method, self.path))
            injected = state.fail_next.pop(0) if state.fail_next else None
        try:
            body = self._body() if method in ("POST", "PUT", "DELETE") else {}
            if injected:
                code, message = injected
                reason = {500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}.get(code, "")
                raise ApiError(code, reason, message)
            plural, namespace, name, sub, query = self._route()
            if method == "GET" and sub == "log":
                tail = int(query["tailLines"]) if "tailLines" in query else None
                data = state.pod_log(namespace, name, tail).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            if method == "GET" and name is None:
                labels, fields = query.get("labelSelector", ""), query.get("fieldSelector", "")
                if query.get("watch") in ("true", "1"):
                    self._watch(plural, namespace, labels, fields, query)
                else:
                    limit = int(query.get("limit") or 0)
                    token = query.get("continue", "")
                    self._send_json(200, state.list(plural, namespace, labels, fields, limit, token))
                return
            if method == "GET":
                obj = state.get(plural, namespace or "", name)
                if obj is None:
                    raise not_found(plural, name)
                self._send_json(200, obj)
            elif method == "POST" and name is None:
                self._send_json(201, state.create(plural, namespace or "", body))
            elif method == "PUT" and name:
                self._send_json(200, state.replace(plural, namespace or "", name, body))
            elif method == "DELETE" and name:
                policy = body.get("propagationPolicy") or query.get("propagationPolicy") or "Background"
                self._send_json(200, state.delete(plural, namespace or "", name, policy))
            else:
                raise ApiError(
                    405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
                )
        except ApiError as error:
            self._send_json(error.code, error.body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")

    # ---- watch ---------------------------------------------------------------------------------

    def _chunk(self, event: dict) -> None:
        data = json.dumps(event).encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _watch(self, plural: str, namespace: str | None, labels: str, fields: str, query: dict) -> None:
        state = self.server_state
        timeout = int(query.get("timeoutSeconds") or 1800)
        deadline = time.monotonic() + timeout
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        stream = _Stream(self)

        def wanted(obj: dict) -> bool:
            return (namespace is None or obj["metadata"].get("namespace") == namespace) and state._selected(
                obj, labels, fields
            )

        with state.lock:
            state.streams.append(stream)
            since = query.get("resourceVersion", "")
            if since and since != "0" and int(since) < state.compacted[plural]:
                pending = [
                    {
                        "type": "ERROR",
                        "object": status_body(
                            410, "Expired", f"too old resource version: {since} ({state.compacted[plural]})"
                        ),
                    }
                ]
                position = None
            elif since and since != "0":
                position = int(since)
                pending = []
            else:
                pending = [
                    {"type": "ADDED", "object": copy.deepcopy(obj)}
                    for obj in state.objects[plural].values()
                    if wanted(obj)
                ]
                position = state.rv
        try:
            while True:
                for event in pending:
                    self._chunk(event)
                if position is None:
                    break
                with state.lock:
                    while True:
                        history = state.history[plural]
                        start = bisect.bisect_right(history, position, key=lambda entry: entry[0])
                        pending = [
                            {"type": type_, "object": copy.deepcopy(obj)}
                            for _rv, type_, obj in history[start:]
                            if wanted(obj)
                        ]
                        position = state.rv
                        remaining = deadline - time.monotonic()
                        if pending or stream.dropped or remaining <= 0:
                            break
                        state.lock.wait(min(remaining, 1.0))
                if stream.dropped:
                    # Cut the connection without the closing chunk: the client sees a broken stream.
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if not pending and time.monotonic() >= deadline:
                    break
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
        finally:
            with state.lock:
                state.streams.remove(stream)
