"""What the cluster says about a job (its Job's conditions, its Pods' container states, the
FailedCreate events of its Job) turned into the portal's phases and reasons. ``job_status()`` is
the one mapping: ``status()``, ``survey()`` and ``watch()`` all use it.

Image pull errors: a Pod in ErrImagePull / ImagePullBackOff stays ``pending`` with the cluster's
message as the reason. It does not fail on a timer of ours: the Job's activeDeadlineSeconds (the
time limit) ends it, and the failure then says that the image could not be pulled. The portal
checks images against the allowed registry prefixes before it dispatches.

Reasons are English (marked with ``gettext_noop``): they are stored as they are and translated
when a page shows them (``clusterjobs/reasons.py``), whatever language the caller had active.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.utils.translation import gettext_noop

from ...sources import checkout, pull
from ..base import BackendStatus
from .manifests import ANNOTATION_UID, CONTAINER, INIT_STEPS

FAILED_CREATE_SELECTOR = "involvedObject.kind=Job,reason=FailedCreate"
IMAGE_PULL_REASONS = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _main_container(pod: dict) -> dict:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    for container in statuses:
        if container.get("name") == CONTAINER:
            return container
    return statuses[0] if statuses else {}


def last_line(message: str, limit: int = 500) -> str:
    """The last line of a container's termination message: with FallbackToLogsOnError it is the
    end of the log, whose last line says what went wrong (a traceback's exception)."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return lines[-1][:limit] if lines else ""


# The reason of a job whose init container failed, by the step it ran.
STEP_FAILED = {
    checkout.STEP: gettext_noop("clone failed (exit code %(code)s): %(log)s"),
    checkout.UNPACK_STEP: gettext_noop("unpack failed (exit code %(code)s): %(log)s"),
    pull.STEP: gettext_noop("pull failed (exit code %(code)s): %(log)s"),
}


def clone_failure(pod: dict | None) -> str:
    """Why an init container failed: one fetching the job's code (clone, unpack) or the one pulling
    its DVC data (pull), with its exit code and the end of its log; "" when none did."""
    for container in ((pod or {}).get("status") or {}).get("initContainerStatuses") or []:
        terminated = (container.get("state") or {}).get("terminated") or {}
        step = INIT_STEPS.get(container.get("name", ""))
        if step and terminated.get("exitCode", 0) != 0:
            lines = [line for line in (terminated.get("message") or "").strip().splitlines() if line.strip()]
            values = {"code": terminated["exitCode"], "log": " / ".join(lines[-5:])[-1000:]}
            return STEP_FAILED[step] % values
    return ""


def _waiting_reason(pod: dict | None) -> str:
    """Why a pod is not running yet, in words, or ""."""
    if pod is None:
        return ""
    container = _main_container(pod)
    waiting = (container.get("state") or {}).get("waiting") or {}
    if waiting.get("reason") in IMAGE_PULL_REASONS:
        return gettext_noop("image could not be pulled (%(reason)s): %(message)s") % {
            "reason": waiting["reason"],
            "message": waiting.get("message") or container.get("image", ""),
        }
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return gettext_noop("waiting for resources: %(message)s") % {
                "message": condition.get("message") or condition.get("reason", "")
            }
    if waiting.get("reason") and waiting["reason"] != "ContainerCreating":
        return f"{waiting['reason']}: {waiting.get('message', '')}".rstrip(": ")
    return ""


def _failed_create_message(event: dict) -> str:
    message = event.get("message", "").removeprefix("Error creating: ")
    if " is forbidden: " in message:
        message = message.split(" is forbidden: ", 1)[1]
    return gettext_noop("the cluster did not create the pod: %(message)s") % {"message": message}


def job_status(job_id: int, job: dict | None, pods: list[dict], events: Iterable[dict] = ()) -> BackendStatus:
    """Map a Job, its Pods and its FailedCreate events (API dicts, camelCase) to a BackendStatus."""
    if job is None:
        return BackendStatus(job_id, "missing", gettext_noop("the job is not on the cluster"))
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
            gettext_noop("completed"),
            exit_code=exit_code if exit_code is not None else 0,
            finished_at=finished,
        )
    if "Failed" in conditions:
        condition = conditions["Failed"]
        finished = _time(condition.get("lastTransitionTime"))
        extra["kubernetes_reason"] = condition.get("reason", "")
        if condition.get("reason") == "DeadlineExceeded":
            waiting = "" if started_at else _waiting_reason(pod)
            reason = gettext_noop("time limit exceeded")
            if waiting:
                reason = gettext_noop("time limit exceeded while waiting: %(reason)s") % {"reason": waiting}
        elif clone := clone_failure(pod):
            reason = clone
        elif terminated and terminated.get("reason") == "OOMKilled":
            reason = gettext_noop("out of memory (OOMKilled)")
        elif terminated:
            reason = gettext_noop("exited with code %(code)s (%(reason)s)") % {
                "code": terminated.get("exitCode"),
                "reason": terminated.get("reason") or condition.get("reason", ""),
            }
            if line := last_line(terminated.get("message") or ""):
                reason += f": {line}"
        else:
            reason = condition.get("message") or condition.get("reason") or gettext_noop("failed")
        return result("failed", reason, finished_at=finished)
    if state.get("running"):
        return result("running", gettext_noop("running"))
    if terminated and terminated.get("exitCode") == 0:
        return result("running", gettext_noop("finishing"))
    if terminated:
        return result(
            "pending",
            gettext_noop("restarting after exit code %(code)s (%(reason)s)")
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
        return result("pending", gettext_noop("waiting for the cluster to create the pod"))
    return result("pending", gettext_noop("starting"))
