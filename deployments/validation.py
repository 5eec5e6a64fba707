"""What may be asked of a deployment: its name, its model's version or alias, replicas and
resources, each refused per field with a message."""

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from experiments import gateway
from portal.errors import ServiceUnavailable

NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")


@dataclass(frozen=True)
class Target:
    """The version a deployment serves, and the alias it follows (if any)."""

    model_name: str
    version: str
    alias: str = ""


def check_name(name) -> str:
    name = (name or "").strip() if isinstance(name, str) else ""
    if not NAME.match(name):
        raise ValidationError(
            {
                "name": _(
                    "Lowercase letters, digits and '-', at most 40, starting and ending with a letter or digit."
                )
            }
        )
    return name


def _whole(errors: dict, field: str, value, low: int, high: int) -> int:
    try:
        number = int(value)
        if isinstance(value, bool) or str(number) != str(value).strip():
            raise ValueError
    except (TypeError, ValueError):
        errors[field] = [_("A whole number.")]
        return 0
    if not low <= number <= high:
        errors[field] = [_("Between %(low)s and %(high)s.") % {"low": low, "high": high}]
    return number


def check_resources(*, replicas, cpu, memory_mib, gpus) -> tuple[int, Decimal, int, int]:
    errors: dict[str, list[str]] = {}
    replicas = _whole(errors, "replicas", replicas, 1, settings.TALLER_DEPLOY_MAX_REPLICAS)
    memory_mib = _whole(errors, "memory_mib", memory_mib, 64, 1024 * 1024)
    gpus = _whole(errors, "gpus", gpus, 0, 64)
    try:
        cpu = Decimal(str(cpu))
        if not cpu.is_finite() or not Decimal("0.1") <= cpu <= 256 or cpu != cpu.quantize(Decimal("0.01")):
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        errors["cpu"] = [_("A number of cores between 0.1 and 256, at most two decimals.")]
        cpu = Decimal(0)
    if errors:
        raise ValidationError(errors)
    return replicas, cpu, memory_mib, gpus


def _gateway(call, *args):
    try:
        return call(*args)
    except gateway.GatewayError as error:
        if error.status in (400, 404):
            return None
        raise ServiceUnavailable(str(error)) from error


def resolve(project_slug: str, model: str, *, version="", alias="") -> Target:
    """The registered model version asked for (by number, or the one an alias points at), checked
    to be the project's and to hold a logged model the server can load."""
    version, alias = str(version or "").strip(), str(alias or "").strip()
    if bool(version) == bool(alias):
        raise ValidationError({"version": _("Give either a version or an alias.")})
    full_name = gateway.model_name(project_slug, str(model or "").strip())
    found = _gateway(gateway.get_model, project_slug, full_name)
    if found is None:
        raise ValidationError(
            {"model": _("No registered model '%(name)s' in this project.") % {"name": model}}
        )
    if alias:
        if alias not in found["aliases"]:
            raise ValidationError({"alias": _("The model has no alias '%(alias)s'.") % {"alias": alias}})
        version = found["aliases"][alias]
    data = _gateway(gateway.get_version, project_slug, full_name, version)
    if data is None:
        raise ValidationError({"version": _("The model has no version %(version)s.") % {"version": version}})
    check_logged_model(data)
    return Target(model_name=full_name, version=str(data["version"]), alias=alias)


def check_logged_model(version: dict) -> None:
    """A version registered from a logged model (``models:/<id>``) holds one; one registered from
    a run's folder holds one when that folder has an ``MLmodel`` file."""
    source = version["source"]
    if source.startswith("models:/"):
        return
    if source.startswith("runs:/") and version["run_id"]:
        path = source.removeprefix("runs:/").split("/", 1)[1] if "/" in source.removeprefix("runs:/") else ""
        files = _gateway(gateway.list_artifacts, version["run_id"], path) or []
        if any(f["name"] == "MLmodel" and not f["is_dir"] for f in files):
            return
    raise ValidationError(
        {"version": _("Version %(version)s has no logged model to serve.") % {"version": version["version"]}}
    )
