"""The backend class: what the portal asks of the cluster (submit, cancel, logs, status, survey,
watch, prepare a project), each call made through ``calls`` (request options, error
translation) on manifests from ``manifests`` and read back through ``status``.

The Job is created first and its Secret with its owner's uid next; the pod waits for the Secret
(CreateContainerConfigError) for that moment.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator

from django.conf import settings
from django.utils.translation import gettext_noop
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from ..base import Backend, BackendError, BackendStatus, JobSpec, ProjectLimits
from . import calls
from .calls import fetch, send, translated
from .manifests import (
    ANNOTATION_UID,
    CONTAINER,
    LABEL_JOB,
    LABEL_PROJECT,
    job_manifest,
    job_name,
    namespace_name,
    secret_manifest,
)
from .namespace import ensure_namespace, prepare_namespace
from .records import record
from .status import FAILED_CREATE_SELECTOR, job_status
from .watch import Cache, Stream, follow

logger = logging.getLogger(__name__)


def _latest(pods: list[dict]) -> dict:
    return max(pods, key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"]))


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

    def _job_options(self, project: str, volumes: tuple[str, ...]) -> dict:
        configured = settings.TALLER_PROJECT_VOLUMES.get(project, ())
        return {
            "volumes": tuple(dict.fromkeys([*volumes, *configured])),
            "gpu_label": settings.TALLER_GPU_PRODUCT_LABEL,
            "ttl_seconds": settings.TALLER_JOB_TTL_SECONDS,
            "run_as_user": settings.TALLER_RUN_AS_USER,
            "git_image": settings.TALLER_GIT_IMAGE,
            "portal_url": settings.TALLER_JOB_PORTAL_URL,
            "dvc_image": settings.TALLER_DVC_IMAGE,
        }

    def manifest(self, spec: JobSpec) -> dict:
        """The Job this backend submits for ``spec`` under the current settings."""
        return job_manifest(spec, **self._job_options(spec.project, spec.volumes))

    # ---- submit ----

    def submit(self, spec: JobSpec) -> None:
        """Create the Job (or find it, created by an earlier attempt), then its Secret."""
        body = self.manifest(spec)
        namespace = namespace_name(spec.project)
        with translated(gettext_noop("creating Job %(name)s") % {"name": spec.name}, sends_body=True):
            batch = self._batch()
            for attempt in range(2):
                try:
                    created = fetch(batch.create_namespaced_job, namespace, body)
                    break
                except ApiException as exc:
                    if exc.status == 404 and attempt == 0:  # the project's namespace is not there yet
                        if spec.limits is not None:  # with its quota, before its first Job
                            self.ensure_project(spec.limits)
                        else:
                            ensure_namespace(self._core(), spec.project)
                        continue
                    if exc.status == 409 and calls.answer(exc).get("reason") == "AlreadyExists":
                        created = self._check_existing(batch, spec)
                        break
                    raise
        if spec.secret_names:
            self._put_secret_of(spec, created["metadata"]["uid"])

    def _put_secret_of(self, spec: JobSpec, owner_uid: str) -> None:
        """The Secret of the Job just created or found (``owner_uid``). Refused for good, the Job
        would hold a pod, and the project's quota, waiting for it until its deadline: the Job is
        deleted then. A retryable error leaves it for the retry, which finds it and puts its
        Secret again."""
        try:
            with translated(gettext_noop("creating Secret %(name)s") % {"name": spec.name}, sends_body=True):
                self._put_secret(spec, owner_uid)
            return
        except BackendError as exc:
            error = exc
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
            send(core.create_namespaced_secret, namespace, body)
            return
        except ApiException as exc:
            if exc.status != 409:
                raise
        current = fetch(core.read_namespaced_secret, spec.name, namespace)
        self._ensure_ours(current, spec, "Secret")
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        send(core.replace_namespaced_secret, spec.name, namespace, body)

    def _check_existing(self, batch: client.BatchV1Api, spec: JobSpec) -> dict:
        """A Job of this name exists: it is ours (a retried dispatch) only if it carries this job's
        labels and uid annotation. Returns it."""
        existing = fetch(batch.read_namespaced_job, spec.name, namespace_name(spec.project))
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
            gettext_noop(
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

    # ---- a project's namespace ----

    def ensure_project(self, limits: ProjectLimits) -> None:
        doing = gettext_noop("preparing namespace %(name)s") % {"name": namespace_name(limits.project)}
        with translated(doing, sends_body=True):
            prepare_namespace(self._core(), limits)

    # ---- one job ----

    def cancel(self, job_id: int, project: str) -> bool:
        """Delete the Job; the garbage collector then deletes its Pods, which take their grace
        period to stop and count against the namespace's quota until they are gone. Returns
        whether there was a Job (so Pods may linger)."""
        with translated(gettext_noop("deleting Job %(name)s") % {"name": job_name(job_id)}):
            try:
                send(
                    self._batch().delete_namespaced_job,
                    job_name(job_id),
                    namespace_name(project),
                    propagation_policy="Background",
                )
            except ApiException as exc:
                if exc.status == 404:
                    return False
                raise
            return True

    def _pods(self, job_id: int, project: str) -> list[dict]:
        listing = fetch(
            self._core().list_namespaced_pod, namespace_name(project), label_selector=f"{LABEL_JOB}={job_id}"
        )
        return listing.get("items") or []

    def logs(self, job_id: int, project: str, tail: int | None = None) -> list[str]:
        kwargs = {"tail_lines": tail} if tail is not None else {}
        with translated(gettext_noop("reading the log of Job %(name)s") % {"name": job_name(job_id)}):
            try:
                pods = self._pods(job_id, project)
                if not pods:
                    return []
                return calls.lines(
                    self._core().read_namespaced_pod_log,
                    _latest(pods)["metadata"]["name"],
                    namespace_name(project),
                    container=CONTAINER,
                    **kwargs,
                )
            except ApiException as exc:
                if exc.status in (400, 404):  # not started yet, or already gone
                    return []
                raise

    def log_chunks(self, job_id: int, project: str) -> Iterator[bytes]:
        """The newest Pod's whole log, streamed from the API server in pieces."""
        doing = gettext_noop("reading the log of Job %(name)s") % {"name": job_name(job_id)}
        with translated(doing):
            try:
                pods = self._pods(job_id, project)
                if not pods:
                    return
                name = _latest(pods)["metadata"]["name"]
                response = self._core().read_namespaced_pod_log(
                    name, namespace_name(project), container=CONTAINER, **calls.options()
                )
            except ApiException as exc:
                if exc.status in (400, 404):  # not started yet, or already gone
                    return
                raise
        try:
            with translated(doing):  # the body is read as it is consumed
                yield from response.stream(65536)
        finally:
            response.release_conn()

    def status(self, job_id: int, project: str) -> BackendStatus:
        namespace = namespace_name(project)
        with translated(gettext_noop("reading Job %(name)s") % {"name": job_name(job_id)}):
            try:
                job = fetch(self._batch().read_namespaced_job, job_name(job_id), namespace)
            except ApiException as exc:
                if exc.status == 404:
                    return job_status(job_id, None, [])
                raise
            pods = self._pods(job_id, project)
            events: list[dict] = []
            if not pods:
                listing = fetch(
                    self._core().list_namespaced_event,
                    namespace,
                    field_selector=f"{FAILED_CREATE_SELECTOR},involvedObject.name={job_name(job_id)}",
                )
                events = listing.get("items") or []
            return job_status(job_id, job, pods, events)

    # ---- all of the portal's jobs ----

    def _list_all(self, call: Callable, selector: dict, doing: str) -> Iterator[dict]:
        """Every item of a list across namespaces, in pages of TALLER_K8S_LIST_PAGE_SIZE.

        Between two pages it rests twice as long as the last page took (to fetch and to read): a
        reconcile is a repair that may take three times as long, and so never holds more than a
        third of a core that dispatch could use (`make bench`: dispatch p95 during back-to-back
        reconciles of 3,000 jobs went from 1.99 to 1.59 of dispatch with none)."""
        token = None
        while True:
            began = time.monotonic()
            with translated(doing):
                page = fetch(call, **selector, limit=int(settings.TALLER_K8S_LIST_PAGE_SIZE), _continue=token)
            yield from page.get("items") or []
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return
            time.sleep(2 * (time.monotonic() - began))

    def _streams(self) -> list[Stream]:
        """What the portal follows on the cluster: its Jobs, their Pods (both labelled with the
        portal's job id) and FailedCreate events of Jobs, all across namespaces."""
        with translated(
            gettext_noop("connecting to the cluster")
        ):  # an unreadable kubeconfig, no in-cluster account
            core, batch = self._core(), self._batch()
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
        cache = Cache()
        for kind, call, selector in self._streams():
            doing = gettext_noop("listing the portal's %(kind)s") % {"kind": kind}
            for obj in self._list_all(call, selector, doing):
                if cache.key(kind, obj) in wanted:
                    cache.put(kind, "ADDED", record(kind, obj))
        return {key[1]: cache.survey_status(key) for key in wanted}

    def watch(self, stop: threading.Event) -> Generator[BackendStatus, bool | None, None]:
        """One list+watch stream per kind (Jobs, Pods, FailedCreate Events) across namespaces:
        see ``watch.follow``."""
        yield from follow(self._streams(), stop, calls.timeout(), int(settings.TALLER_K8S_WATCH_SECONDS))
