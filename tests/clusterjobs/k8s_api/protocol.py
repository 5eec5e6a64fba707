"""What the test API server shares with its clients: the kinds it stores, ``Status`` answers and
their upstream wording, quantities, label and field selectors."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

# plural -> (apiVersion, kind, group); what the server stores.
KINDS = {
    "namespaces": ("v1", "Namespace", ""),
    "jobs": ("batch/v1", "Job", "batch"),
    "pods": ("v1", "Pod", ""),
    "events": ("v1", "Event", ""),
    "resourcequotas": ("v1", "ResourceQuota", ""),
    "limitranges": ("v1", "LimitRange", ""),
    "secrets": ("v1", "Secret", ""),
    "deployments": ("apps/v1", "Deployment", "apps"),
    "services": ("v1", "Service", ""),
}
API_PREFIX = {"": "/api/v1", "batch": "/apis/batch/v1", "apps": "/apis/apps/v1"}

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


def match_labels(labels: dict, terms: list[str]) -> bool:
    for term in terms:
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


def match_fields(obj: dict, terms: list[str]) -> bool:
    for term in terms:
        negate = "!=" in term
        key, value = term.split("!=" if negate else "=", 1)
        current: object = obj
        for part in key.rstrip("=").split("."):
            current = current.get(part) if isinstance(current, dict) else None
        if (str(current) == value) == negate:
            return False
    return True


def selector(labels: str, fields: str) -> Callable[[dict], bool]:
    """Whether an object matches a label and a field selector, each parsed once."""
    label_terms = [t.strip() for t in labels.split(",") if t.strip()]
    field_terms = [t.strip() for t in fields.split(",") if t.strip()]
    if not label_terms and not field_terms:
        return lambda obj: True
    return lambda obj: (
        match_labels(obj["metadata"].get("labels") or {}, label_terms) and match_fields(obj, field_terms)
    )


class Json:
    """An answer already serialized."""

    def __init__(self, data: bytes) -> None:
        self.data = data


def fmt_quantity(value) -> str:
    if isinstance(value, str):
        return value
    return str(value.normalize().to_integral_value()) if value == value.to_integral_value() else str(value)
