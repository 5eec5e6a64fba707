"""How the test API server refuses a manifest (422 Invalid), in two parts:

- the OpenAPI schema, strictly (types, required fields, no unknown fields), checked by
  kubernetes-validate with its published schemas for every version in SCHEMA_VERSIONS;
- what the real API server validates beyond the schema and kubernetes-validate cannot see (names
  and label values, restart policy, resource requests against limits, integer extended resources,
  volume mounts, LimitRange defaults against maxima), in its upstream wording.
"""

from __future__ import annotations

import functools
import re

import jsonschema
import kubernetes_validate
from kubernetes_validate.utils import all_versions, major_minor, schema_contents
from referencing import Registry, Resource

from .protocol import quantity

# The schema versions every manifest is checked against: a recent release and the newest shipped.
SCHEMA_VERSIONS = sorted({"1.34", kubernetes_validate.latest_version()})


@functools.cache
def _validator(version: str, api_version: str, kind: str) -> jsonschema.protocols.Validator:
    """The validator ``kubernetes_validate.validate(strict=True)`` builds for a kind, built once:
    building it reads the whole published schema (a quarter of a second), using it a few ms."""
    shipped = [v for v in all_versions() if major_minor(v) <= major_minor(version)][-1]
    folder = f"kubernetes-json-schema/v{shipped}-local-strict"
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema = schema_contents(f"{folder}/{kind.lower()}-{group_version}.json", version)
    definitions = schema_contents(f"{folder}/_definitions.json", version)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def schema_errors(obj: dict) -> list[tuple[str, str]]:
    """(field, detail) for each way ``obj`` breaks the strict schema of its kind, in any version of
    SCHEMA_VERSIONS (kubernetes-validate's own check, ``validate(obj, version, strict=True)``)."""
    errors: list[tuple[str, str]] = []
    for version in SCHEMA_VERSIONS:
        for error in _validator(version, obj["apiVersion"], obj["kind"]).iter_errors(obj):
            field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
            found = (field.lstrip(".") or "<root>", f"Invalid value: {error.message}")
            if found not in errors:
                errors.append(found)
    return errors


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


def semantic_errors(plural: str, obj: dict) -> list[tuple[str, str]]:
    """What the API server's own validation (not its OpenAPI schema) refuses in ``obj``."""
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
    if plural == "secrets":
        for field in ("data", "stringData"):
            for key in obj.get(field) or {}:
                if not CONFIG_KEY.match(key):
                    errors.append((f"{field}[{key}]", f'Invalid value: "{key}": {CONFIG_KEY_MSG}'))
    if plural == "jobs":
        errors += _job_errors(obj.get("spec") or {})
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


def _job_errors(spec: dict) -> list[tuple[str, str]]:
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
    inits = pod.get("initContainers") or []
    for path, container in [
        *((f"{base}.containers[{i}]", c) for i, c in enumerate(containers)),
        *((f"{base}.initContainers[{i}]", c) for i, c in enumerate(inits)),
    ]:
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
        errors += _resource_errors(container.get("resources") or {}, f"{path}.resources")
    return errors


def _resource_errors(resources: dict, path: str) -> list[tuple[str, str]]:
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
