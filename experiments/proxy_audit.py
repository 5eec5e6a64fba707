"""Changes to the model registry made through the tracking proxy, in the audit log.

Only the registry's writes are recorded (models, versions, aliases, tags, stages), once MLflow
has answered success: a metric, a parameter or a run's tag is not a change people audit, and the
proxy's busiest routes stay one dictionary lookup slower, no more. The pages' own registry writes
record their events in ``actions.py``."""

import requests

from portal.projects.actions import record

from .proxy_scope import Call

# Route -> the verb recorded (the same verbs as the pages' writes, ``actions.py``).
AUDITED = {
    ("POST", "registered-models/create"): "model.create",
    ("POST", "registered-models/rename"): "model.rename",
    ("PATCH", "registered-models/update"): "model.update",
    ("DELETE", "registered-models/delete"): "model.delete",
    ("POST", "registered-models/set-tag"): "model.tag.set",
    ("DELETE", "registered-models/delete-tag"): "model.tag.delete",
    ("POST", "registered-models/alias"): "model.alias.set",
    ("DELETE", "registered-models/alias"): "model.alias.delete",
    ("POST", "model-versions/create"): "model.version.create",
    ("PATCH", "model-versions/update"): "model.version.update",
    ("DELETE", "model-versions/delete"): "model.version.delete",
    ("POST", "model-versions/set-tag"): "model.tag.set",
    ("DELETE", "model-versions/delete-tag"): "model.tag.delete",
    ("POST", "model-versions/transition-stage"): "model.stage",
}


def _version(params: dict, upstream: requests.Response) -> str:
    """The version a request names, or the one MLflow just created."""
    if params.get("version"):
        return str(params["version"])
    if "model_version" not in upstream.text[:200]:
        return ""
    try:
        return str(upstream.json().get("model_version", {}).get("version", ""))
    except ValueError:
        return ""


def record_change(call: Call, key: tuple[str, str], upstream: requests.Response) -> None:
    """Record the registry change ``call`` made, if it is one and MLflow made it."""
    verb = AUDITED.get(key)
    if verb is None or upstream.status_code != 200 or call.slug is None:
        return
    params = call.params
    name = params.get("name", "")
    version = _version(params, upstream)
    target = f"model {name} v{version}" if version else f"model {name}"
    details = {
        "model.rename": f"to {params.get('new_name', '')}",
        "model.alias.set": f"{name}@{params.get('alias', '')} -> v{version}",
        "model.alias.delete": f"{name}@{params.get('alias', '')}",
        "model.tag.set": str(params.get("key", "")),
        "model.tag.delete": str(params.get("key", "")),
        "model.stage": str(params.get("stage", "")),
        "model.version.create": f"from {params.get('run_id') or params.get('source', '')}",
    }
    message = f"{details.get(verb, '')} (through the tracking API)".lstrip()
    record(call.scope.user, call.scope.project(call.slug), verb, message, target=target)
