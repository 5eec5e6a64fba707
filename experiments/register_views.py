"""Registering a model from a run's page: one of the run's logged models (or a model folder of its
artifacts) becomes a new version of a project model. Only members who may change the project see
the form or may post it."""

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from portal.projects.access import Need, get_project_for_user

from . import actions, gateway
from .views import mlflow_page

MAX_MODELS = 50


@mlflow_page
def register_model(request: HttpRequest, slug: str, run_id: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Need.CHANGE)
    experiment_id = gateway.check_run(project.slug, run_id)
    values = {"name": "", "logged_model": "", "artifact_path": ""}
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        values = {key: request.POST.get(key, "").strip() for key in values}
        try:
            version = actions.register_run_model(
                request.user,
                project,
                run_id,
                values["name"],
                logged_model=values["logged_model"],
                artifact_path=values["artifact_path"],
            )
        except ValidationError as error:
            errors, status = error.message_dict, 400
        else:
            url = reverse(
                "experiments:version",
                args=[project.slug, version["name"].split(gateway.MODEL_SEPARATOR, 1)[1], version["version"]],
            )
            if request.htmx:
                response = HttpResponse(status=204)
                response["HX-Location"] = url
                return response
            return redirect(url)
    # The form offers the run's logged models (the first chosen), or a folder of its artifacts.
    logged = gateway.run_logged_models(experiment_id, run_id, max_results=MAX_MODELS)
    if request.method != "POST" and logged:
        values["logged_model"] = logged[0]["model_id"]
    context = {
        "project": project,
        "run_id": run_id,
        "logged": logged,
        "values": values,
        "errors": errors,
        "prefix": gateway.model_name(project.slug, ""),
    }
    template = "experiments/register.html#form" if request.htmx else "experiments/register.html"
    return render(request, template, context, status=status)
