"""Pages of a project's MLflow experiments, a run and the comparison of runs (the runs table and
charts in runs_table.py, artifacts in artifact_views.py, registered models in model_views.py), and
``mlflow_page`` and ``job_of``, which they share.

Each view checks the membership through access.py first, then makes one bounded call to
MLflow (through the gateway); slower parts of a page (artifact tree, metric charts) load as
their own fragments. MLflow being down is a page with a message, never a 500.
"""

from functools import wraps
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from portal.projects.access import Need, can, get_project_for_user

from . import gateway


def mlflow_page(view):
    """MLflow's refusals as the page's answer: 404 as Http404, the rest as a page with the message."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except gateway.GatewayError as error:
            if error.status == 404:
                raise Http404(str(error)) from error
            status = 400 if error.status in {400, 409} else 502
            template = "experiments/unavailable.html"
            if request.htmx:
                template += "#message"
            return render(
                request, template, {"message": str(error), "project_slug": kwargs.get("slug")}, status=status
            )

    return login_required(wrapper)


def job_of(run: dict) -> dict | None:
    """The portal job that made a run, from the ``taller.job_id`` tag the portal sets on a job's run
    (and that no one else may set): {"id", "url"}. The job page checks who may see it."""
    job_id = run.get("job_id", "")
    if not job_id.isdigit():
        return None
    return {"id": int(job_id), "url": reverse("clusterjobs:detail", args=[int(job_id)])}


# Experiments ---------------------------------------------------------------------------------


@mlflow_page
def experiment_list(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    token = request.GET.get("page_token", "")
    page = gateway.list_experiments(project.slug, max_results=50, page_token=token)
    context = {"project": project, "page": page, "page_token": token}
    return render(request, "experiments/experiments.html", context)


# Runs ------------------------------------------------------------------------------------------


@mlflow_page
def run_detail(request: HttpRequest, slug: str, run_id: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    run = gateway.get_run(project.slug, run_id)
    context = {
        "project": project,
        "run": run,
        "job": job_of(run),
        "can_change": can(request.user, project, Need.CHANGE),
        "user_tags": {k: v for k, v in run["tags"].items() if not k.startswith("mlflow.")},
    }
    return render(request, "experiments/run.html", context)


@mlflow_page
def run_job(request: HttpRequest, slug: str, run_id: str) -> HttpResponse:
    """The job that made a run (from a model version, say): its page, else the run's page."""
    project = get_project_for_user(request.user, slug)
    run = gateway.get_run(project.slug, run_id)
    job = job_of(run)
    return redirect(job["url"] if job else reverse("experiments:run", args=[project.slug, run_id]))


@mlflow_page
def run_history(request: HttpRequest, slug: str, run_id: str) -> JsonResponse:
    """One metric's history of one run, for the run page's chart."""
    project = get_project_for_user(request.user, slug)
    gateway.check_run(project.slug, run_id)
    key = request.GET.get("key", "")
    if not key:
        return JsonResponse({"error": _("Which metric? Add ?key=.")}, status=400)
    points = gateway.metric_histories([run_id], key, max_points=1000)[run_id]
    return JsonResponse({"key": key, "series": [{"run_id": run_id, "label": key, "points": points}]})


# Compare ---------------------------------------------------------------------------------------


def _run_ids(request: HttpRequest) -> list[str]:
    ids = []
    for value in request.GET.getlist("runs"):
        ids += [v.strip() for v in value.split(",") if v.strip()]
    return list(dict.fromkeys(ids))


@mlflow_page
def compare(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    run_ids = _run_ids(request)
    context: dict = {"project": project, "runs": [], "error": ""}
    if not 2 <= len(run_ids) <= 10:
        context["error"] = _("Choose between 2 and 10 runs to compare (you chose %(n)d).") % {
            "n": len(run_ids)
        }
        return render(request, "experiments/compare.html", context, status=400)
    runs = gateway.get_runs(project.slug, run_ids)
    param_keys = sorted({k for run in runs for k in run["params"]})
    metric_keys = sorted({k for run in runs for k in run["metrics"]})
    params = []
    for key in param_keys:
        values = [run["params"].get(key, "") for run in runs]
        params.append({"key": key, "values": values, "differs": len(set(values)) > 1})
    metrics = []
    for key in metric_keys:
        values = [run["metrics"].get(key) for run in runs]
        metrics.append({"key": key, "values": values, "differs": len(set(values)) > 1})
    chosen = request.GET.get("metric") or (metric_keys[0] if metric_keys else "")
    context.update(
        {
            "runs": runs,
            "params": params,
            "metrics": metrics,
            "metric_keys": metric_keys,
            "metric": chosen,
            "run_query": urlencode([("runs", ",".join(run["run_id"] for run in runs))]),
            "labels": {run["run_id"]: run["run_name"] or run["run_id"][:8] for run in runs},
        }
    )
    return render(request, "experiments/compare.html", context)


@mlflow_page
def compare_history(request: HttpRequest, slug: str) -> JsonResponse:
    """One metric's history for every compared run, in one MLflow call: the overlaid chart."""
    project = get_project_for_user(request.user, slug)
    run_ids = _run_ids(request)[:10]
    key = request.GET.get("key", "")
    if not run_ids or not key:
        return JsonResponse({"error": _("Give runs and a metric key.")}, status=400)
    gateway.check_runs(project.slug, run_ids)
    histories = gateway.metric_histories(run_ids, key, max_points=500)
    series = [
        {"run_id": run_id, "label": run_id[:8], "points": histories.get(run_id, [])} for run_id in run_ids
    ]
    return JsonResponse({"key": key, "series": series})
