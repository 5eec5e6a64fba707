"""Writes on a project's registered models: versions registered from a run, aliases and tags.
Pages and the API call these.

Each checks the actor's role (member or owner), calls MLflow through the gateway and records
an audit event; MLflow's refusal of bad input becomes a ValidationError with a field.
"""

import re

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
    record(actor, project, "model.alias.set", f"{name}@{alias} -> v{version}", target=f"model {name}")


@transaction.atomic
def delete_model_alias(actor, project: Project, name: str, alias: str) -> None:
    alias = _required("alias", alias)
    _model_of(actor, project, name)
    _call("alias", gateway.delete_alias, name, alias)
    record(actor, project, "model.alias.delete", f"{name}@{alias}", target=f"model {name}")


@transaction.atomic
def set_version_tag(actor, project: Project, name: str, version: str, key: str, value: str) -> None:
    key = _required("key", key)
    if key.startswith("taller."):
        raise ValidationError({"key": _("Tags starting with 'taller.' are set by the portal.")})
    _model_of(actor, project, name, version)
    _call("key", gateway.set_version_tag, name, version, key, value or "")
    record(actor, project, "model.tag.set", key, target=f"model {name} v{version}")


@transaction.atomic
def delete_version_tag(actor, project: Project, name: str, version: str, key: str) -> None:
    key = _required("key", key)
    if key.startswith("taller."):
        raise ValidationError({"key": _("Tags starting with 'taller.' are set by the portal.")})
    _model_of(actor, project, name, version)
    _call("key", gateway.delete_version_tag, name, version, key)
    record(actor, project, "model.tag.delete", key, target=f"model {name} v{version}")


MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")


@transaction.atomic
def register_run_model(
    actor, project: Project, run_id: str, name: str, *, logged_model: str = "", artifact_path: str = ""
) -> dict:
    """A new version of the project's model ``<slug>.<name>`` (created the first time) from one
    of the run's logged models (MLflow 3) or a model folder of its artifacts. The version is
    tagged with the job that made the run, so that it walks back to it."""
    check(actor, project, Need.CHANGE)
    name = _required("name", name)
    if not MODEL_NAME.match(name):
        raise ValidationError(
            {"name": _("Letters, digits, '-' and '_' only (at most 100), starting with a letter or digit.")}
        )
    run = gateway.get_run(project.slug, run_id)
    if logged_model:
        if logged_model not in {
            m["model_id"] for m in gateway.run_logged_models(run["experiment_id"], run_id)
        }:
            raise ValidationError({"logged_model": _("This run logged no such model.")})
        source = f"models:/{logged_model}"
    else:
        try:
            path = gateway.clean_artifact_path(artifact_path)
        except gateway.GatewayError as error:
            raise ValidationError({"artifact_path": str(error)}) from error
        if not path:
            raise ValidationError({"artifact_path": _("Choose a logged model, or give the model's folder.")})
        source = f"runs:/{run_id}/{path}"
    full_name = gateway.model_name(project.slug, name)
    tags = {gateway.JOB_TAG: run["job_id"]} if run["job_id"].isdigit() else {}
    try:
        version = gateway.register_version(
            project.slug, full_name, source, run_id, model_id=logged_model, tags=tags
        )
    except gateway.GatewayError as error:
        if error.status in {400, 409}:
            raise ValidationError({"name": str(error)}) from error
        raise
    record(
        actor,
        project,
        "model.version.create",
        f"from run {run_id}",
        target=f"model {full_name} v{version['version']}",
    )
    return version
