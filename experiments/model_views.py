"""Pages of a project's registered models and their versions; aliases and tags set on a version."""

from functools import wraps

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from portal.projects.access import Need, can, get_project_for_user
from portal.projects.models import Project

from . import actions, gateway
from .views import job_of, mlflow_page


@mlflow_page
def model_list(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    token = request.GET.get("page_token", "")
    page = gateway.list_models(project.slug, max_results=50, page_token=token)
    return render(request, "experiments/models.html", {"project": project, "page": page})


def _full_name(project: Project, name: str) -> str:
    return gateway.model_name(project.slug, name)


@mlflow_page
def model_detail(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    full_name = _full_name(project, name)
    model = gateway.get_model(project.slug, full_name)
    token = request.GET.get("page_token", "")
    versions = gateway.list_versions(project.slug, full_name, page_token=token)
    for version in versions["versions"]:
        version["job"] = _version_job(project, version)
    context = {"project": project, "model": model, "versions": versions}
    return render(request, "experiments/model.html", context)


def _version_job(project: Project, version: dict) -> dict | None:
    """The job behind a version: the one the portal tagged it with when it registered it, else a
    link that finds the job of its source run (one MLflow call, when followed)."""
    job = job_of({"job_id": version["tags"].get(gateway.JOB_TAG, "")})
    if job is None and version["run_id"]:
        job = {"id": None, "url": reverse("experiments:run-job", args=[project.slug, version["run_id"]])}
    return job


def _version_context(request: HttpRequest, project: Project, full_name: str, version: str) -> dict:
    data = gateway.get_version(project.slug, full_name, version)
    return {
        "project": project,
        "model_name": full_name,
        "short_name": full_name.split(gateway.MODEL_SEPARATOR, 1)[1],
        "version": data,
        "job": _version_job(project, data),
        "can_change": can(request.user, project, Need.CHANGE),
        "errors": {},
    }


@mlflow_page
def version_detail(request: HttpRequest, slug: str, name: str, version: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    context = _version_context(request, project, _full_name(project, name), version)
    return render(request, "experiments/version.html", context)


def _version_write(write):
    """POST views on a version: run the action, answer the fragment (htmx) or redirect back."""

    @require_POST
    @mlflow_page
    @wraps(write)
    def view(request: HttpRequest, slug: str, name: str, version: str) -> HttpResponse:
        project = get_project_for_user(request.user, slug, Need.CHANGE)
        full_name = _full_name(project, name)
        errors = {}
        try:
            write(request, project, full_name, version)
        except ValidationError as error:
            errors = error.message_dict
        if not request.htmx:
            for field_errors in errors.values():
                for message in field_errors:
                    messages.error(request, message)
            short_name = full_name.split(gateway.MODEL_SEPARATOR, 1)[1]
            url = reverse("experiments:version", args=[project.slug, short_name, version])
            return redirect(url)
        context = _version_context(request, project, full_name, version)
        context["errors"] = errors
        # htmx swaps only successful answers: the fragment carries the field messages itself.
        return render(request, "experiments/version.html#manage", context)

    return view


@_version_write
def set_alias(request, project, name, version) -> None:
    actions.set_model_alias(request.user, project, name, version, request.POST.get("alias", ""))


@_version_write
def delete_alias(request, project, name, version) -> None:
    actions.delete_model_alias(request.user, project, name, request.POST.get("alias", ""))


@_version_write
def set_tag(request, project, name, version) -> None:
    post = request.POST
    actions.set_version_tag(request.user, project, name, version, post.get("key", ""), post.get("value", ""))


@_version_write
def delete_tag(request, project, name, version) -> None:
    actions.delete_version_tag(request.user, project, name, version, request.POST.get("key", ""))
