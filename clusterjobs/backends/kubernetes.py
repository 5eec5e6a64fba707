"""The Kubernetes execution backend: one namespace per project, one batch/v1 Job per portal job.

The only module that imports the `kubernetes` client. It takes plain specs (no models), builds
every manifest itself (users never write pod specs), and turns the client's exceptions into
BackendError with ``permanent`` saying whether a retry can help.

The manifest builders are pure functions returning dicts, so they are asserted and validated
against the published schema on their own. ``job_status()`` is the one mapping of what the cluster
says (Job conditions, Pod container states, FailedCreate events) to the portal's phases; both
``status()`` and ``watch()`` use it.

Secrets: the job's token and its secret variables (``JobSpec.secret_names``) never appear in the
Job spec, where anyone who may read Jobs or Pods would see them. They go into a Secret of the
Job's name, owned by the Job (so the cluster deletes it with the Job: cancel, TTL), which the
container's ``env`` refers to by ``secretKeyRef``. The Job is created first and the Secret with its
owner's uid next; the pod waits for the Secret (CreateContainerConfigError) for that moment.

Image pull errors: a Pod in ErrImagePull / ImagePullBackOff stays ``pending`` with the cluster's
message as the reason. It does not fail on a timer of ours: the Job's activeDeadlineSeconds (the
time limit) ends it, and the failure then says that the image could not be pulled. The portal
checks images against the allowed registry prefixes before it dispatches.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from datetime import datetime
from decimal import ROUND_CEILING, Decimal

import orjson
import urllib3
from django.conf import settings
from django.utils.translation import gettext as _
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.utils.quantity import parse_quantity

from .base import Backend, BackendError, BackendStatus, JobSpec, ProjectLimits

logger = logging.getLogger(__name__)

LABEL_JOB = "taller.io/job"
LABEL_PROJECT = "taller.io/project"
ANNOTATION_UID = "taller.io/uid"
MANAGED_BY = {"app.kubernetes.io/managed-by": "taller"}
CONTAINER = "main"
QUOTA_NAME = "taller-quota"
LIMITS_NAME = "taller-limits"
GPU_RESOURCE = "nvidia.com/gpu"
FAILED_CREATE_SELECTOR = "involvedObject.kind=Job,reason=FailedCreate"
IMAGE_PULL_REASONS = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
JOB_NAME = re.compile(r"^taller-(\d+)$")
# The watch: a failed attempt waits 0.5 s, doubling up to 5 s; a status the portal could not save
# is tried again every 2 s.
WATCH_MIN_BACKOFF_SECONDS = 0.5
WATCH_MAX_BACKOFF_SECONDS = 5.0
WATCH_RETRY_SECONDS = 2.0
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


def job_manifest(
    spec: JobSpec,
    *,
    volumes: tuple[str, ...] | list[str] = (),
    gpu_label: str = "nvidia.com/gpu.product",
    ttl_seconds: int = 3600,
    run_as_user: int = 1000,
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
    pod_spec: dict = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": run_as_user,
            "runAsGroup": run_as_user,
            "fsGroup": run_as_user,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": CONTAINER,
                "image": spec.image,
                "command": list(spec.command),
                # A container that fails without writing /dev/termination-log gets the end of its
                # log as its termination message: the watcher puts its last line in the job's
                # reason (an MLflow client redirected or refused says so there).
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "env": [_env_entry(spec, name, value) for name, value in spec.env.items()],
                "resources": {"requests": dict(quantities), "limits": dict(quantities)},
                "securityContext": {
                    "runAsNonRoot": True,
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
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


# ---- what the cluster says -> the portal's phases ---------------------------------------------


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _main_container(pod: dict) -> dict:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    for container in statuses:
        if container.get("name") == CONTAINER:
            return container
    return statuses[0] if statuses else {}


def _last_line(message: str, limit: int = 500) -> str:
    """The last line of a container's termination message: with FallbackToLogsOnError it is the
    end of the log, whose last line says what went wrong (a traceback's exception)."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return lines[-1][:limit] if lines else ""


def _waiting_reason(pod: dict | None) -> str:
    """Why a pod is not running yet, in words, or ""."""
    if pod is None:
        return ""
    container = _main_container(pod)
    waiting = (container.get("state") or {}).get("waiting") or {}
    if waiting.get("reason") in IMAGE_PULL_REASONS:
        return _("image could not be pulled (%(reason)s): %(message)s") % {
            "reason": waiting["reason"],
            "message": waiting.get("message") or container.get("image", ""),
        }
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return _("waiting for resources: %(message)s") % {
                "message": condition.get("message") or condition.get("reason", "")
            }
    if waiting.get("reason") and waiting["reason"] != "ContainerCreating":
        return f"{waiting['reason']}: {waiting.get('message', '')}".rstrip(": ")
    return ""


def _failed_create_message(event: dict) -> str:
    message = event.get("message", "").removeprefix("Error creating: ")
    if " is forbidden: " in message:
        message = message.split(" is forbidden: ", 1)[1]
    return _("the cluster did not create the pod: %(message)s") % {"message": message}


def job_status(job_id: int, job: dict | None, pods: list[dict], events: Iterable[dict] = ()) -> BackendStatus:
    """Map a Job, its Pods and its FailedCreate events (API dicts, camelCase) to a BackendStatus."""
    if job is None:
        return BackendStatus(job_id, "missing", _("the job is not on the cluster"))
    meta = job.get("metadata") or {}
    status = job.get("status") or {}
    pods = sorted(pods, key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"]))
    pod = pods[-1] if pods else None
    container = _main_container(pod) if pod else {}
    state = container.get("state") or {}
    terminated = state.get("terminated") or (container.get("lastState") or {}).get("terminated")
    digest = next((c["imageID"] for p in reversed(pods) if (c := _main_container(p)).get("imageID")), "")
    started_at = _time((state.get("running") or terminated or {}).get("startedAt"))
    exit_code = terminated.get("exitCode") if terminated else None
    extra = {"namespace": meta.get("namespace", ""), "name": meta.get("name", "")}
    # The uid the portal recorded on the Job: a retried dispatch adopts only a Job with its own uid.
    if uid := (meta.get("annotations") or {}).get(ANNOTATION_UID):
        extra["uid"] = uid
    if pod:
        extra["pod"] = pod["metadata"]["name"]
    conditions = {
        c["type"]: c for c in status.get("conditions") or [] if c.get("status") == "True" and "type" in c
    }

    def result(phase: str, reason: str, **fields) -> BackendStatus:
        fields.setdefault("exit_code", exit_code)
        fields.setdefault("started_at", started_at)
        return BackendStatus(job_id, phase, reason, image_digest=digest, extra=extra, **fields)

    if "Complete" in conditions:
        finished = _time(status.get("completionTime") or conditions["Complete"].get("lastTransitionTime"))
        return result(
            "succeeded",
            _("completed"),
            exit_code=exit_code if exit_code is not None else 0,
            finished_at=finished,
        )
    if "Failed" in conditions:
        condition = conditions["Failed"]
        finished = _time(condition.get("lastTransitionTime"))
        extra["kubernetes_reason"] = condition.get("reason", "")
        if condition.get("reason") == "DeadlineExceeded":
            waiting = "" if started_at else _waiting_reason(pod)
            reason = _("time limit exceeded")
            if waiting:
                reason = _("time limit exceeded while waiting: %(reason)s") % {"reason": waiting}
        elif terminated and terminated.get("reason") == "OOMKilled":
            reason = _("out of memory (OOMKilled)")
        elif terminated:
            reason = _("exited with code %(code)s (%(reason)s)") % {
                "code": terminated.get("exitCode"),
                "reason": terminated.get("reason") or condition.get("reason", ""),
            }
            if last_line := _last_line(terminated.get("message") or ""):
                reason += f": {last_line}"
        else:
            reason = condition.get("message") or condition.get("reason") or _("failed")
        return result("failed", reason, finished_at=finished)
    if state.get("running"):
        return result("running", _("running"))
    if terminated and terminated.get("exitCode") == 0:
        return result("running", _("finishing"))
    if terminated:
        return result(
            "pending",
            _("restarting after exit code %(code)s (%(reason)s)")
            % {"code": terminated.get("exitCode"), "reason": terminated.get("reason", "")},
        )
    waiting = _waiting_reason(pod)
    if waiting:
        return result("pending", waiting)
    if pod is None:
        uid = meta.get("uid")
        relevant = [
            e for e in events if not uid or (e.get("involvedObject") or {}).get("uid") in (None, "", uid)
        ]
        if relevant:
            latest = max(
                relevant, key=lambda e: (e.get("lastTimestamp") or "", e["metadata"].get("name", ""))
            )
            return result("pending", _failed_create_message(latest))
        return result("pending", _("waiting for the cluster to create the pod"))
    return result("pending", _("starting"))


# ---- the backend -------------------------------------------------------------------------------


def _status_of(exc: ApiException) -> dict:
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _message(exc: ApiException) -> str:
    return _status_of(exc).get("message") or f"{exc.status} {exc.reason}"


def _error(exc: Exception, doing: str) -> BackendError:
    """Our error for a failed call; ``permanent`` when repeating the same call cannot succeed."""
    if isinstance(exc, ApiException):
        message = _message(exc)
        text = _("%(doing)s: the cluster answered %(status)s: %(message)s") % {
            "doing": doing,
            "status": exc.status,
            "message": message,
        }
        if exc.status in (400, 404, 405, 409, 422) or (exc.status == 403 and "exceeded quota" not in message):
            return BackendError(text, permanent=True)
        return BackendError(text)  # 401, 403 quota, 429, 5xx
    if isinstance(exc, ValueError):  # the client refused the manifest before sending it
        return BackendError(f"{doing}: {exc}", permanent=True)
    return BackendError(
        _("%(doing)s: the cluster did not answer: %(error)s") % {"doing": doing, "error": exc}
    )


TRANSPORT_ERRORS = (urllib3.exceptions.HTTPError, OSError, ConfigException)


def _read(response) -> dict:
    """The JSON body of a raw (not preloaded) response; the connection goes back to the pool.
    orjson: a reconcile reads every Job and Pod of the portal, and parsing them is most of its work."""
    try:
        return orjson.loads(response.data or b"{}")
    finally:
        response.release_conn()


def _drain(response) -> None:
    response.data  # noqa: B018 - read the body, so the kept-alive connection is clean for the next call
    response.release_conn()


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


class KubernetesBackend(Backend):
    name = "kubernetes"

    def __init__(self) -> None:
        self._clients: dict[tuple[str, str], client.ApiClient] = {}
        self._lock = threading.Lock()

    # ---- configuration (read when needed, so settings overrides apply) ----

    def _api(self) -> client.ApiClient:
        key = (settings.TALLER_KUBECONFIG, settings.TALLER_K8S_CONTEXT)
        with self._lock:
            if key not in self._clients:
                if key[0]:
                    api = config.new_client_from_config(config_file=key[0], context=key[1] or None)
                else:
                    configuration = client.Configuration()
                    config.load_incluster_config(client_configuration=configuration)
                    api = client.ApiClient(configuration)
                self._clients[key] = api
            return self._clients[key]

    def scope(self) -> str:
        api = self._api()
        return f"{self.name} {api.configuration.host} {settings.TALLER_K8S_CONTEXT}"

    def _batch(self) -> client.BatchV1Api:
        return client.BatchV1Api(self._api())

    def _core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self._api())

    @staticmethod
    def _timeout() -> tuple[float, float]:
        seconds = float(settings.TALLER_K8S_TIMEOUT_SECONDS)
        return (min(seconds, 5.0), seconds)

    def _job_options(self, project: str, volumes: tuple[str, ...]) -> dict:
        configured = settings.TALLER_PROJECT_VOLUMES.get(project, ())
        return {
            "volumes": tuple(dict.fromkeys([*volumes, *configured])),
            "gpu_label": settings.TALLER_GPU_PRODUCT_LABEL,
            "ttl_seconds": settings.TALLER_JOB_TTL_SECONDS,
            "run_as_user": settings.TALLER_RUN_AS_USER,
        }

    def manifest(self, spec: JobSpec) -> dict:
        """The Job this backend submits for ``spec`` under the current settings."""
        return job_manifest(spec, **self._job_options(spec.project, spec.volumes))

    # ---- the interface ----

    def submit(self, spec: JobSpec) -> None:
        """Create the Job (or find it, created by an earlier attempt), then its Secret."""
        doing = _("creating Job %(name)s") % {"name": spec.name}
        body = self.manifest(spec)
        namespace = namespace_name(spec.project)
        try:
            batch = self._batch()
            for attempt in range(2):
                try:
                    created = _read(
                        batch.create_namespaced_job(
                            namespace, body, _request_timeout=self._timeout(), _preload_content=False
                        )
                    )
                    break
                except ApiException as exc:
                    reason = _status_of(exc).get("reason")
                    if exc.status == 404 and attempt == 0:  # the project's namespace is not there yet
                        if spec.limits is not None:  # with its quota, before its first Job
                            self.ensure_project(spec.limits)
                        else:
                            self._ensure_namespace(spec.project)
                        continue
                    if exc.status == 409 and reason == "AlreadyExists":
                        created = self._check_existing(batch, spec)
                        break
                    raise
        except BackendError:
            raise
        except (ApiException, ValueError, *TRANSPORT_ERRORS) as exc:
            raise _error(exc, doing) from exc
        if spec.secret_names:
            self._put_secret_of(spec, created["metadata"]["uid"])

    def _put_secret_of(self, spec: JobSpec, owner_uid: str) -> None:
        """The Secret of the Job just created or found (``owner_uid``). Refused for good, the Job
        would hold a pod, and the project's quota, waiting for it until its deadline: the Job is
        deleted then. A retryable error leaves it for the retry, which finds it and puts its
        Secret again."""
        doing = _("creating Secret %(name)s") % {"name": spec.name}
        try:
            self._put_secret(spec, owner_uid)
            return
        except BackendError as exc:
            error = exc
        except (ApiException, ValueError, *TRANSPORT_ERRORS) as exc:
            error = _error(exc, doing)
        if error.permanent:
            try:
                self.cancel(spec.job_id, spec.project)
            except BackendError as cleanup:
                logger.warning("could not delete Job %s after its Secret failed: %s", spec.name, cleanup)
        raise error

    def _put_secret(self, spec: JobSpec, owner_uid: str) -> None:
        """Create the job's Secret; one of its name already there is replaced when it is this
        job's (an earlier attempt's, perhaps with a token since revoked, or left by a Job of the
        same uid deleted meanwhile), and refused otherwise."""
        core = self._core()
        body = secret_manifest(spec, owner_uid)
        namespace = namespace_name(spec.project)
        try:
            _drain(
                core.create_namespaced_secret(
                    namespace, body, _request_timeout=self._timeout(), _preload_content=False
                )
            )
            return
        except ApiException as exc:
            if exc.status != 409:
                raise
        current = _read(
            core.read_namespaced_secret(
                spec.name, namespace, _request_timeout=self._timeout(), _preload_content=False
            )
        )
        self._ensure_ours(current, spec, "Secret")
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        _drain(
            core.replace_namespaced_secret(
                spec.name, namespace, body, _request_timeout=self._timeout(), _preload_content=False
            )
        )

    def _check_existing(self, batch: client.BatchV1Api, spec: JobSpec) -> dict:
        """A Job of this name exists: it is ours (a retried dispatch) only if it carries this job's
        labels and uid annotation. Returns it."""
        existing = _read(
            batch.read_namespaced_job(
                spec.name,
                namespace_name(spec.project),
                _request_timeout=self._timeout(),
                _preload_content=False,
            )
        )
        self._ensure_ours(existing, spec, "Job")
        return existing

    @staticmethod
    def _ensure_ours(existing: dict, spec: JobSpec, kind: str) -> None:
        meta = existing.get("metadata") or {}
        labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
        if (
            labels.get(LABEL_JOB) == str(spec.job_id)
            and labels.get(LABEL_PROJECT) == spec.project
            and annotations.get(ANNOTATION_UID) == spec.uid
        ):
            return
        raise BackendError(
            _(
                "a different %(kind)s named %(name)s already exists in namespace %(namespace)s "
                "(its uid annotation is %(found)r, this job's is %(uid)r); it was not replaced"
            )
            % {
                "kind": kind,
                "name": spec.name,
                "namespace": namespace_name(spec.project),
                "found": annotations.get(ANNOTATION_UID, ""),
                "uid": spec.uid,
            },
            permanent=True,
        )

    def _ensure_namespace(self, project: str) -> None:
        desired = namespace_manifest(project)
        name = desired["metadata"]["name"]
        core = self._core()
        try:
            _drain(core.create_namespace(desired, _request_timeout=self._timeout(), _preload_content=False))
            return
        except ApiException as exc:
            if exc.status != 409:
                raise
        current = _read(core.read_namespace(name, _request_timeout=self._timeout(), _preload_content=False))
        labels = current["metadata"].get("labels") or {}
        if _same(labels, desired["metadata"]["labels"]):
            return
        current["metadata"]["labels"] = {**labels, **desired["metadata"]["labels"]}
        _drain(
            core.replace_namespace(name, current, _request_timeout=self._timeout(), _preload_content=False)
        )

    def _apply(self, desired: dict, create: Callable, read: Callable, replace: Callable) -> None:
        """Create the object, or replace it when what the cluster holds differs; idempotent."""
        name, namespace = desired["metadata"]["name"], desired["metadata"]["namespace"]
        timeout = self._timeout()
        for _attempt in range(3):
            try:
                _drain(create(namespace, desired, _request_timeout=timeout, _preload_content=False))
                return
            except ApiException as exc:
                if exc.status != 409:
                    raise
            current = _read(read(name, namespace, _request_timeout=timeout, _preload_content=False))
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
                _drain(replace(name, namespace, body, _request_timeout=timeout, _preload_content=False))
                return
            except ApiException as exc:
                if exc.status != 409:  # 409 Conflict: changed under us; read it again
                    raise
        raise BackendError(_("%(name)s kept changing while the portal updated it") % {"name": name})

    def ensure_project(self, limits: ProjectLimits) -> None:
        doing = _("preparing namespace %(name)s") % {"name": namespace_name(limits.project)}
        try:
            core = self._core()
            self._ensure_namespace(limits.project)
            self._apply(
                resource_quota_manifest(limits),
                core.create_namespaced_resource_quota,
                core.read_namespaced_resource_quota,
                core.replace_namespaced_resource_quota,
            )
            self._apply(
                limit_range_manifest(limits),
                core.create_namespaced_limit_range,
                core.read_namespaced_limit_range,
                core.replace_namespaced_limit_range,
            )
        except BackendError:
            raise
        except (ApiException, ValueError, *TRANSPORT_ERRORS) as exc:
            raise _error(exc, doing) from exc

    def cancel(self, job_id: int, project: str) -> bool:
        """Delete the Job; the garbage collector then deletes its Pods, which take their grace
        period to stop and count against the namespace's quota until they are gone. Returns
        whether there was a Job (so Pods may linger)."""
        try:
            _drain(
                self._batch().delete_namespaced_job(
                    job_name(job_id),
                    namespace_name(project),
                    propagation_policy="Background",
                    _request_timeout=self._timeout(),
                    _preload_content=False,
                )
            )
            return True
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise _error(exc, _("deleting Job %(name)s") % {"name": job_name(job_id)}) from exc
        except TRANSPORT_ERRORS as exc:
            raise _error(exc, _("deleting Job %(name)s") % {"name": job_name(job_id)}) from exc

    def _pods(self, job_id: int, project: str) -> list[dict]:
        response = self._core().list_namespaced_pod(
            namespace_name(project),
            label_selector=f"{LABEL_JOB}={job_id}",
            _request_timeout=self._timeout(),
            _preload_content=False,
        )
        return _read(response).get("items") or []

    def logs(self, job_id: int, project: str, tail: int | None = None) -> list[str]:
        doing = _("reading the log of Job %(name)s") % {"name": job_name(job_id)}
        try:
            pods = self._pods(job_id, project)
            if not pods:
                return []
            pod = max(pods, key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"]))
            kwargs = {"tail_lines": tail} if tail is not None else {}
            response = self._core().read_namespaced_pod_log(
                pod["metadata"]["name"],
                namespace_name(project),
                container=CONTAINER,
                _request_timeout=self._timeout(),
                _preload_content=False,
                **kwargs,
            )
            try:
                return response.data.decode("utf-8", errors="replace").splitlines()
            finally:
                response.release_conn()
        except ApiException as exc:
            if exc.status in (400, 404):  # not started yet, or already gone
                return []
            raise _error(exc, doing) from exc
        except TRANSPORT_ERRORS as exc:
            raise _error(exc, doing) from exc

    def log_chunks(self, job_id: int, project: str) -> Iterator[bytes]:
        """The newest Pod's whole log, streamed from the API server in pieces."""
        doing = _("reading the log of Job %(name)s") % {"name": job_name(job_id)}
        try:
            pods = self._pods(job_id, project)
            if not pods:
                return
            pod = max(pods, key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"]))
            response = self._core().read_namespaced_pod_log(
                pod["metadata"]["name"],
                namespace_name(project),
                container=CONTAINER,
                _request_timeout=self._timeout(),
                _preload_content=False,
            )
        except ApiException as exc:
            if exc.status in (400, 404):  # not started yet, or already gone
                return
            raise _error(exc, doing) from exc
        except TRANSPORT_ERRORS as exc:
            raise _error(exc, doing) from exc
        try:
            yield from response.stream(65536)
        except TRANSPORT_ERRORS as exc:
            raise _error(exc, doing) from exc
        finally:
            response.release_conn()

    def status(self, job_id: int, project: str) -> BackendStatus:
        namespace = namespace_name(project)
        doing = _("reading Job %(name)s") % {"name": job_name(job_id)}
        try:
            try:
                job = _read(
                    self._batch().read_namespaced_job(
                        job_name(job_id), namespace, _request_timeout=self._timeout(), _preload_content=False
                    )
                )
            except ApiException as exc:
                if exc.status == 404:
                    return job_status(job_id, None, [])
                raise
            pods = self._pods(job_id, project)
            events: list[dict] = []
            if not pods:
                response = self._core().list_namespaced_event(
                    namespace,
                    field_selector=f"{FAILED_CREATE_SELECTOR},involvedObject.name={job_name(job_id)}",
                    _request_timeout=self._timeout(),
                    _preload_content=False,
                )
                events = _read(response).get("items") or []
            return job_status(job_id, job, pods, events)
        except (ApiException, *TRANSPORT_ERRORS) as exc:
            raise _error(exc, doing) from exc

    def _list_all(self, call: Callable, selector: dict, doing: str) -> Iterator[dict]:
        """Every item of a list across namespaces, in pages of TALLER_K8S_LIST_PAGE_SIZE.

        Between two pages it rests twice as long as the last page took (to fetch and to read): a
        reconcile is a repair that may take three times as long, and so never holds more than a
        third of a core that dispatch could use (`make bench`: dispatch p95 during back-to-back
        reconciles of 3,000 jobs went from 1.99 to 1.59 of dispatch with none)."""
        token = None
        while True:
            began = time.monotonic()
            try:
                page = _read(
                    call(
                        **selector,
                        limit=int(settings.TALLER_K8S_LIST_PAGE_SIZE),
                        _continue=token,
                        _request_timeout=self._timeout(),
                        _preload_content=False,
                    )
                )
            except (ApiException, *TRANSPORT_ERRORS) as exc:
                raise _error(exc, doing) from exc
            yield from page.get("items") or []
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return
            time.sleep(2 * (time.monotonic() - began))

    def _streams(self) -> list[tuple[str, Callable, dict]]:
        """What the portal follows on the cluster: its Jobs, their Pods (both labelled with the
        portal's job id) and FailedCreate events of Jobs, all across namespaces."""
        try:
            core, batch = self._core(), self._batch()
        except TRANSPORT_ERRORS as exc:  # an unreadable kubeconfig, no in-cluster account
            raise _error(exc, _("connecting to the cluster")) from exc
        return [
            ("jobs", batch.list_job_for_all_namespaces, {"label_selector": LABEL_JOB}),
            ("pods", core.list_pod_for_all_namespaces, {"label_selector": LABEL_JOB}),
            ("events", core.list_event_for_all_namespaces, {"field_selector": FAILED_CREATE_SELECTOR}),
        ]

    def survey(self, jobs: Iterable[tuple[int, str]]) -> dict[int, BackendStatus]:
        """The status of each of ``jobs`` ((id, project) pairs) from three paged lists across
        namespaces (the portal's Jobs, their Pods, FailedCreate events): the same few requests
        whatever the number of jobs, instead of a GET and a Pod list per job."""
        wanted = {(namespace_name(project), job_id) for job_id, project in jobs}
        cache = _Cache()
        for kind, call, selector in self._streams():
            doing = _("listing the portal's %(kind)s") % {"kind": kind}
            for obj in self._list_all(call, selector, doing):
                if cache.key(kind, obj) in wanted:
                    cache.put(kind, "ADDED", obj)
        return {key[1]: cache.survey_status(key) for key in wanted}

    def watch(self, stop: threading.Event) -> Generator[BackendStatus, bool | None, None]:
        """One list+watch stream per kind (Jobs, Pods, FailedCreate Events) across namespaces, each
        in a thread feeding one queue; statuses are recomputed from a cache of all three and
        yielded when they change.

        The consumer sends back False for a status it could not save: that status is not taken
        as seen, and is yielded again (as the cluster then shows the job) every
        WATCH_RETRY_SECONDS until it is saved or superseded."""
        changes: queue.Queue = queue.Queue()
        done = threading.Event()
        followers = [_Follower(kind, call, selector) for kind, call, selector in self._streams()]
        threads = [
            threading.Thread(
                target=follower.run,
                args=(changes, stop, done, self._timeout(), int(settings.TALLER_K8S_WATCH_SECONDS)),
                name=f"taller-watch-{follower.kind}",
                daemon=True,
            )
            for follower in followers
        ]
        for thread in threads:
            thread.start()
        cache = _Cache()
        retry_at = time.monotonic() + WATCH_RETRY_SECONDS
        try:
            while not stop.is_set():
                try:
                    statuses = cache.apply(*changes.get(timeout=0.5))
                except queue.Empty:
                    statuses = []
                if cache.unsaved and time.monotonic() >= retry_at:
                    statuses += cache.retry()
                    retry_at = time.monotonic() + WATCH_RETRY_SECONDS
                for status in statuses:
                    if (yield status) is False:
                        cache.failed(status)
                    else:
                        cache.saved(status)
        finally:
            done.set()
            for follower in followers:
                follower.interrupt()
            for thread in threads:
                thread.join(timeout=5)


class _Follower:
    """List, then watch from the list's resourceVersion; resume after a dropped or ended stream
    from the last resourceVersion seen; relist when the server says 410 Gone. A failed attempt
    waits 0.5 s, doubling up to WATCH_MAX_BACKOFF_SECONDS, and a list or an event that arrives
    starts again from 0.5 s: after an API server restart the stream is back within seconds."""

    def __init__(self, kind: str, list_call: Callable, selector: dict) -> None:
        self.kind = kind
        self.list_call = list_call
        self.selector = selector
        self.current: watch.Watch | None = None

    def interrupt(self) -> None:
        current = self.current
        if current is not None:
            current.stop()

    def run(
        self,
        changes: queue.Queue,
        stop: threading.Event,
        done: threading.Event,
        timeout: tuple[float, float],
        watch_seconds: int,
    ) -> None:
        version: str | None = None
        delay = WATCH_MIN_BACKOFF_SECONDS

        def stopped() -> bool:
            return stop.is_set() or done.is_set()

        while not stopped():
            try:
                if version is None:
                    listing = _read(
                        self.list_call(**self.selector, _request_timeout=timeout, _preload_content=False)
                    )
                    version = listing["metadata"]["resourceVersion"]
                    changes.put(("SYNC", self.kind, listing.get("items") or []))
                    delay = WATCH_MIN_BACKOFF_SECONDS
                self.current = watch.Watch()
                for event in self.current.stream(
                    self.list_call,
                    resource_version=version,
                    timeout_seconds=watch_seconds,
                    _request_timeout=(timeout[0], watch_seconds + timeout[1]),
                    **self.selector,
                ):
                    obj = event["raw_object"]
                    version = obj.get("metadata", {}).get("resourceVersion") or version
                    if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                        changes.put((event["type"], self.kind, obj))
                    delay = WATCH_MIN_BACKOFF_SECONDS
                    if stopped():
                        break
                delay = WATCH_MIN_BACKOFF_SECONDS
            except ApiException as exc:
                if exc.status == 410:
                    logger.info("watch of %s: resourceVersion %s is gone, listing again", self.kind, version)
                    version = None
                    continue
                logger.warning("watch of %s failed: %s", self.kind, exc)
                stop.wait(delay)
                delay = min(delay * 2, WATCH_MAX_BACKOFF_SECONDS)
            except (*TRANSPORT_ERRORS, ValueError) as exc:
                if stopped():
                    break
                logger.info("watch of %s dropped (%s); reconnecting from %s", self.kind, exc, version)
                stop.wait(delay)
                delay = min(delay * 2, WATCH_MAX_BACKOFF_SECONDS)
            finally:
                self.current = None


def _job_key(namespace: str, labels: dict | None, name: str = "") -> tuple[str, int] | None:
    value = (labels or {}).get(LABEL_JOB)
    if value is None:
        match = JOB_NAME.match(name)
        value = match.group(1) if match else None
    try:
        return (namespace, int(value)) if value is not None else None
    except ValueError:
        return None


class _Cache:
    """What the watcher knows of the portal's Jobs, Pods and FailedCreate events, and which
    status of each job the portal has saved (``last``) or failed to save (``unsaved``)."""

    def __init__(self) -> None:
        self.jobs: dict[tuple[str, int], dict] = {}
        self.pods: dict[tuple[str, int], dict[str, dict]] = {}
        self.events: dict[tuple[str, int], dict[str, dict]] = {}
        self.last: dict[tuple[str, int], BackendStatus] = {}
        self.unsaved: set[tuple[str, int]] = set()

    def key(self, kind: str, obj: dict) -> tuple[str, int] | None:
        meta = obj.get("metadata") or {}
        if kind == "events":
            involved = obj.get("involvedObject") or {}
            return _job_key(
                involved.get("namespace") or meta.get("namespace", ""), None, involved.get("name", "")
            )
        return _job_key(meta.get("namespace", ""), meta.get("labels"))

    def put(self, kind: str, change: str, obj: dict) -> tuple[str, int] | None:
        key = self.key(kind, obj)
        if key is None:
            return None
        name = obj["metadata"]["name"]
        if kind == "jobs":
            if change == "DELETED":
                self.jobs.pop(key, None)
            else:
                self.jobs[key] = obj
        else:
            store = self.pods if kind == "pods" else self.events
            if change == "DELETED":
                objects = store.get(key, {})
                objects.pop(name, None)
                if not objects:
                    store.pop(key, None)
            else:
                store.setdefault(key, {})[name] = obj
        return key

    def apply(self, change: str, kind: str, payload) -> list[BackendStatus]:
        if change == "SYNC":
            store = {"jobs": self.jobs, "pods": self.pods, "events": self.events}[kind]
            touched = set(store)
            store.clear()
            for obj in payload:
                touched.add(self.put(kind, "ADDED", obj))
        else:
            touched = {self.put(kind, change, payload)}
        statuses = []
        for key in sorted(k for k in touched if k is not None):
            status = self._status(key)
            if status is not None:
                statuses.append(status)
        return statuses

    def retry(self) -> list[BackendStatus]:
        """The statuses the portal failed to save, as the cluster shows those jobs now."""
        keys, self.unsaved = sorted(self.unsaved), set()
        return [status for key in keys if (status := self._status(key)) is not None]

    def saved(self, status: BackendStatus) -> None:
        key = _status_key(status)
        self.unsaved.discard(key)
        self.last[key] = status

    def failed(self, status: BackendStatus) -> None:
        self.unsaved.add(_status_key(status))

    def survey_status(self, key: tuple[str, int]) -> BackendStatus:
        """The status of a job from a complete listing (reconcile), with how many Pods it has."""
        job = self.jobs.get(key)
        pods = list(self.pods.get(key, {}).values())
        if job is None:
            status = BackendStatus(key[1], "missing", _("the job is not on the cluster"))
            status.extra = {"namespace": key[0], "name": job_name(key[1])}
        else:
            status = job_status(key[1], job, pods, list(self.events.get(key, {}).values()))
        status.extra["pods"] = len(pods)
        return status

    def _status(self, key: tuple[str, int]) -> BackendStatus | None:
        """The job's status if it differs from the last one saved, else None."""
        job = self.jobs.get(key)
        previous = self.last.get(key)
        if job is None:
            if previous is None or previous.phase in ("succeeded", "failed"):
                return None  # never seen, or cleaned up after it ended (ttlSecondsAfterFinished)
            # Deleted (by a cancel, or behind the portal's back): said once, and again when its
            # last Pod is gone, since until then the namespace's quota still counts them.
            status = BackendStatus(key[1], "missing", _("the Job was deleted from the cluster"))
            status.extra = {
                "namespace": key[0],
                "name": job_name(key[1]),
                "pods": len(self.pods.get(key, {})),
            }
        else:
            status = job_status(
                key[1], job, list(self.pods.get(key, {}).values()), list(self.events.get(key, {}).values())
            )
        if status == previous:
            return None
        return status


def _status_key(status: BackendStatus) -> tuple[str, int]:
    return (status.extra.get("namespace", ""), status.job_id)
