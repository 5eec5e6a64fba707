"""Writes on a project's registered models: aliases and tags. Pages and the API call these.

Each checks the actor's role (member or owner), calls MLflow through the gateway and records
an audit event; MLflow's refusal of bad input becomes a ValidationError with a field.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from portal.projects.access import Need, check
from portal.projects.actions import record
from portal.projects.models import Project

from . import gateway


def _call(field: str, function, *args) -> None:
    try:
        function(*args)
    except gateway.GatewayError as error:
        if error.status == 400:
            raise ValidationError({field: str(error)}) from error
        raise


def _model_of(actor, project: Project, name: str, version: str | None = None) -> None:
    check(actor, project, Need.CHANGE)
    if version is None:
        gateway.get_model(project.slug, name)
    else:
        gateway.get_version(project.slug, name, version)


def _required(field: str, value: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationError({field: _("This field is required.")})
    if len(value) > 250:
        raise ValidationError({field: _("At most 250 characters.")})
    return value


@transaction.atomic
def set_model_alias(actor, project: Project, name: str, version: str, alias: str) -> None:
    """Point ``alias`` (e.g. 'champion') at a version of one of the project's models."""
    alias = _required("alias", alias)
    _model_of(actor, project, name, version)
    _call("alias", gateway.set_alias, name, alias, version)
    record(actor, project, "model.alias.set", f"{name}@{alias} -> v{version}")


@transaction.atomic
def delete_model_alias(actor, project: Project, name: str, alias: str) -> None:
    alias = _required("alias", alias)
    _model_of(actor, project, name)
    _call("alias", gateway.delete_alias, name, alias)
    record(actor, project, "model.alias.delete", f"{name}@{alias}")


@transaction.atomic
def set_version_tag(actor, project: Project, name: str, version: str, key: str, value: str) -> None:
    key = _required("key", key)
    if key.startswith("taller."):
        raise ValidationError({"key": _("Tags starting with 'taller.' are set by the portal.")})
    _model_of(actor, project, name, version)
    _call("key", gateway.set_version_tag, name, version, key, value or "")
    record(actor, project, "model.tag.set", f"{name} v{version} {key}")


@transaction.atomic
def delete_version_tag(actor, project: Project, name: str, version: str, key: str) -> None:
    key = _required("key", key)
    if key.startswith("taller."):
        raise ValidationError({"key": _("Tags starting with 'taller.' are set by the portal.")})
    _model_of(actor, project, name, version)
    _call("key", gateway.delete_version_tag, name, version, key)
    record(actor, project, "model.tag.delete", f"{name} v{version} {key}")
