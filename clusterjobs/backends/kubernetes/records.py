"""What the watcher and reconcile keep of the cluster's Jobs, Pods and FailedCreate events: the
few fields ``status.job_status`` reads, in the same (camelCase) shape, so that a kept record gives
the same status as the whole object. A Pod as the API server sends it is mostly its spec and its
managedFields, which no status needs: keeping whole objects cost 77 MiB per 1,000 active jobs
against a real API server, and the records a few KiB per job (`make bench`).

``record()`` of a record is the record itself: a record may be kept again as it is.
"""

from __future__ import annotations

from .manifests import ANNOTATION_UID, CONTAINER, LABEL_JOB
from .status import last_line


def _pick(source: dict | None, *keys: str) -> dict:
    return {key: source[key] for key in keys if key in source} if source else {}


def _meta(obj: dict, *keys: str) -> dict:
    meta = obj.get("metadata") or {}
    kept = _pick(meta, "name", "namespace", *keys)
    if labels := _pick(meta.get("labels"), LABEL_JOB):
        kept["labels"] = labels
    return kept


def _terminated(state: dict) -> dict:
    """A container's terminated state with only the last line of its message (all a reason shows)."""
    if "message" not in state:
        return state
    return {**state, "message": last_line(state.get("message") or "")}


def _container(container: dict) -> dict:
    kept = _pick(container, "name", "image", "imageID")
    for field in ("state", "lastState"):
        if field in container:
            state = container[field] or {}
            # running and waiting are small (startedAt; reason and message): kept whole.
            kept[field] = {
                key: _terminated(value) if key == "terminated" and value else value
                for key, value in state.items()
            }
    return kept


def _job(job: dict) -> dict:
    status = job.get("status") or {}
    kept_status = _pick(status, "completionTime")
    if conditions := [
        _pick(c, "type", "status", "reason", "message", "lastTransitionTime")
        for c in status.get("conditions") or []
        if c.get("status") == "True" and "type" in c
    ]:
        kept_status["conditions"] = conditions
    record = {"metadata": _meta(job, "uid")}
    if annotations := _pick((job.get("metadata") or {}).get("annotations"), ANNOTATION_UID):
        record["metadata"]["annotations"] = annotations
    if kept_status:
        record["status"] = kept_status
    return record


def _pod(pod: dict) -> dict:
    status = pod.get("status") or {}
    kept_status: dict = {}
    if conditions := [
        _pick(c, "type", "status", "reason", "message")
        for c in status.get("conditions") or []
        if c.get("type") == "PodScheduled" and c.get("status") == "False"
    ]:
        kept_status["conditions"] = conditions
    # The main container, or the first when none is named so: the one a status reads.
    containers = status.get("containerStatuses") or []
    main = next((c for c in containers if c.get("name") == CONTAINER), containers[0] if containers else None)
    if main is not None:
        kept_status["containerStatuses"] = [_container(main)]
    record = {"metadata": _meta(pod, "creationTimestamp")}
    if kept_status:
        record["status"] = kept_status
    return record


def _event(event: dict) -> dict:
    record = {
        "metadata": _meta(event),
        "involvedObject": _pick(event.get("involvedObject"), "namespace", "name", "uid"),
    }
    record.update(_pick(event, "lastTimestamp", "message"))
    return record


RECORDS = {"jobs": _job, "pods": _pod, "events": _event}


def record(kind: str, obj: dict) -> dict:
    """What status needs of ``obj``, a Job, Pod or Event ("jobs", "pods", "events") as JSON."""
    return RECORDS[kind](obj)
