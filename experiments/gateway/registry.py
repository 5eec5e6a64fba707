"""A project's registered models and their versions, aliases and tags; MLflow 3's logged models."""

from django.core.cache import cache
from django.utils.translation import gettext as _
from mlflow.exceptions import MlflowException

from .core import (
    JOB_TAG,
    PROJECT_TAG,
    SCOPE_CACHE_SECONDS,
    GatewayError,
    all_of,
    cache_key,
    calling,
    filter_literal,
    looks_like_id,
    mlflow_client,
    project_filter,
)
from .runs import _run, experiment_project

# MLflow refuses '/' in registered model names, so models take `<slug>.<name>` (slugs have no dots).
MODEL_SEPARATOR = "."


def model_name(project: str, name: str) -> str:
    return f"{project}{MODEL_SEPARATOR}{name}"


def model_project(name: str) -> str:
    """The project a registered model's name claims (its `<slug>.` prefix)."""
    return name.split(MODEL_SEPARATOR, 1)[0] if MODEL_SEPARATOR in name else ""


def experiment_name_project(name: str) -> str:
    """The project an experiment's name claims (its `<slug>/` prefix)."""
    return name.split("/", 1)[0] if "/" in name else ""


def _version(version) -> dict:
    return {
        "name": version.name,
        "version": str(version.version),
        "aliases": sorted(version.aliases or []),
        "tags": dict(sorted((version.tags or {}).items())),
        "run_id": version.run_id or "",
        "source": version.source,
        "status": version.status,
        "description": version.description or "",
        "creation_timestamp": version.creation_timestamp,
        "last_updated_timestamp": version.last_updated_timestamp,
    }


def _model(model) -> dict:
    aliases = dict(sorted((model.aliases or {}).items()))
    return {
        "name": model.name,
        "short_name": model.name.split(MODEL_SEPARATOR, 1)[-1],
        "description": model.description or "",
        "tags": dict(sorted((model.tags or {}).items())),
        "aliases": {alias: str(version) for alias, version in aliases.items()},
        "latest_versions": [_version(v) for v in model.latest_versions or []],
        "creation_timestamp": model.creation_timestamp,
        "last_updated_timestamp": model.last_updated_timestamp,
    }


def list_models(project: str, *, max_results: int = 50, page_token: str | None = None) -> dict:
    """One page of the project's registered models (tag and name prefix both match)."""
    filter_string = all_of(f"name LIKE {filter_literal(model_name(project, '%'))}", project_filter(project))
    with calling():
        page = mlflow_client().search_registered_models(
            filter_string=filter_string,
            max_results=max_results,
            order_by=["name ASC"],
            page_token=page_token or None,
        )
    models = [_model(m) for m in page if m.tags.get(PROJECT_TAG) == project]
    return {"models": models, "next_page_token": page.token or None}


def get_model(project: str, name: str) -> dict:
    """A registered model of the project; 404 for a model of another project."""
    if model_project(name) != project:
        raise GatewayError(_("No registered model '%(name)s' in this project.") % {"name": name}, status=404)
    with calling():
        model = mlflow_client().get_registered_model(name)
    if model.tags.get(PROJECT_TAG) != project:
        raise GatewayError(_("No registered model '%(name)s' in this project.") % {"name": name}, status=404)
    return _model(model)


def list_versions(project: str, name: str, *, max_results: int = 50, page_token: str | None = None) -> dict:
    """One page of a model's versions, newest first, with their aliases, tags and source run."""
    get_model(project, name)
    with calling():
        page = mlflow_client().search_model_versions(
            filter_string=f"name = {filter_literal(name)}",
            max_results=max_results,
            order_by=["version_number DESC"],
            page_token=page_token or None,
        )
    return {"versions": [_version(v) for v in page], "next_page_token": page.token or None}


def get_version(project: str, name: str, version: str) -> dict:
    get_model(project, name)
    with calling():
        return _version(mlflow_client().get_model_version(name, str(version)))


def get_model_version(project: str, name: str, version: str) -> dict:
    """A version of the project's model in ONE call (for pages): the model is the project's by
    its name's ``<slug>.`` prefix, the rule the MLflow proxy applies to registry routes (a model
    of that name is made only by the project, tagged with it); ``get_version`` also checks the
    registered model's tag, one call more. 404 for another project's model or a missing version."""
    if model_project(name) != project:
        raise GatewayError(_("No registered model '%(name)s' in this project.") % {"name": name}, status=404)
    with calling():
        return _version(mlflow_client().get_model_version(name, str(version)))


def get_job_run(project: str, run_id: str, job_id: int) -> dict:
    """(Here for the runs module's length.) The run of the project's job ``job_id`` in one call: its ``taller.job_id`` tag (only the
    portal sets ``taller.`` tags) proves it the job's; otherwise ``get_run``'s check. 404 else."""
    if not looks_like_id(run_id):
        raise GatewayError(_("Run '%(id)s' not found.") % {"id": run_id}, status=404)
    with calling():
        run = mlflow_client().get_run(run_id)
    if run.data.tags.get(JOB_TAG) != str(job_id) and experiment_project(run.info.experiment_id) != project:
        raise GatewayError(_("Run '%(id)s' not found.") % {"id": run_id}, status=404)
    return _run(run)


def run_versions(project: str, run_id: str, *, max_results: int = 20) -> list[dict]:
    """The project's model versions registered from ``run_id`` (one search, at most
    ``max_results``); versions of other projects' models are left out."""
    if not looks_like_id(run_id):
        return []
    with calling():
        page = mlflow_client().search_model_versions(
            filter_string=f"run_id = {filter_literal(run_id)}", max_results=max_results
        )
    return [_version(v) for v in page if model_project(v.name) == project]


def set_alias(name: str, alias: str, version: str) -> None:
    with calling():
        mlflow_client().set_registered_model_alias(name, alias, str(version))


def delete_alias(name: str, alias: str) -> None:
    with calling():
        mlflow_client().delete_registered_model_alias(name, alias)


def set_version_tag(name: str, version: str, key: str, value: str) -> None:
    with calling():
        mlflow_client().set_model_version_tag(name, str(version), key, value)


def delete_version_tag(name: str, version: str, key: str) -> None:
    with calling():
        mlflow_client().delete_model_version_tag(name, str(version), key)


def set_model_tag(name: str, key: str, value: str) -> None:
    with calling():
        mlflow_client().set_registered_model_tag(name, key, value)


def delete_model_tag(name: str, key: str) -> None:
    with calling():
        mlflow_client().delete_registered_model_tag(name, key)


def logged_model_project(model_id: str) -> str:
    """The project of an MLflow 3 logged model (through its experiment), cached."""
    if not looks_like_id(model_id):
        return ""
    key = cache_key("lm", model_id)
    experiment_id = cache.get(key)
    if experiment_id is None:
        with calling():
            experiment_id = mlflow_client().get_logged_model(model_id).experiment_id
        cache.set(key, experiment_id, SCOPE_CACHE_SECONDS)
    return experiment_project(experiment_id)


def run_logged_models(experiment_id: str, run_id: str, *, max_results: int = 50) -> list[dict]:
    """MLflow 3's logged models of one run (the caller has checked the run's project)."""
    with calling():
        page = mlflow_client().search_logged_models(
            experiment_ids=[str(experiment_id)],
            filter_string=f"source_run_id = {filter_literal(run_id)}",
            max_results=max_results,
        )
    return [
        {"model_id": m.model_id, "name": m.name, "artifact_location": m.artifact_location}
        for m in page
        if m.source_run_id == run_id
    ]


def register_version(
    project: str, name: str, source: str, run_id: str, *, model_id: str = "", tags=None
) -> dict:
    """A new version of the project's registered model ``name`` (created, tagged with the project,
    the first time) from ``source`` (``models:/<id>`` or ``runs:/<run id>/<path>``). A model of
    that name that is not the project's is a 409."""
    client = mlflow_client()
    with calling():
        try:
            client.create_registered_model(name, tags={PROJECT_TAG: project})
        except MlflowException as error:
            if getattr(error, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
                raise
            if client.get_registered_model(name).tags.get(PROJECT_TAG) != project:
                raise GatewayError(
                    _("The registered model '%(name)s' is not this project's.") % {"name": name}, status=409
                ) from error
        version = client.create_model_version(
            name, source, run_id=run_id, tags=tags or None, model_id=model_id or None, await_creation_for=0
        )
    return _version(version)
