"""MLflow's own links, opened in a browser, lead to the portal's pages.

The MLflow client prints ``View run <name> at: <tracking uri>/#/experiments/<id>/runs/<run id>``.
With the portal's proxy as tracking URI that is ``/mlflow/#/...``: the browser asks for
``/mlflow/`` alone (a fragment never reaches a server). ``mlflow_home`` answers such a browser
with a small page whose script (static/js/mlflow-link.js) reads the fragment and goes on to
``open_in_portal``, which finds the run's project, checks the reader's membership there, and
redirects to the run's page. Without the script the page links to the reader's experiments.
API clients (which ask for JSON) keep the proxy's JSON answer.
"""

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from portal.projects.access import get_project_for_user, visible_to

from . import gateway, proxy
from .views import mlflow_page

MAX_PROJECTS = 20


def wants_html(request: HttpRequest) -> bool:
    """A browser's navigation (HTML preferred over JSON), not an API client."""
    accept = request.headers.get("Accept", "")
    return request.method == "GET" and "text/html" in accept and "application/json" not in accept


def mlflow_home(request: HttpRequest) -> HttpResponse:
    """``/mlflow/``: the small page for a browser, the proxy's JSON 404 for anything else."""
    if not wants_html(request):
        return proxy.unknown(request)
    projects = []
    if request.user.is_authenticated:
        projects = list(visible_to(request.user).order_by("name").only("slug", "name")[:MAX_PROJECTS])
    return render(request, "experiments/mlflow_link.html", {"projects": projects})


@mlflow_page
def open_in_portal(request: HttpRequest) -> HttpResponse:
    """``?experiment=<id>[&run=<id>]`` (MLflow's ids): the run's page, else the experiment's runs.

    One MLflow call at most (the run's or the experiment's project, usually cached); a run or
    experiment of a project the reader is not in is a 404, like any other page."""
    experiment_id = request.GET.get("experiment", "")
    run_id = request.GET.get("run", "")
    if run_id:
        if not gateway.looks_like_id(run_id):
            raise Http404(_("No such run."))
        slug, run_experiment = gateway.run_project(run_id)
        if not slug or (experiment_id and experiment_id != run_experiment):
            raise Http404(_("No such run."))
        project = get_project_for_user(request.user, slug)
        return redirect("experiments:run", project.slug, run_id)
    if not gateway.looks_like_id(experiment_id):
        raise Http404(_("No such experiment."))
    slug = gateway.experiment_project(experiment_id)
    if not slug:
        raise Http404(_("No such experiment."))
    project = get_project_for_user(request.user, slug)
    return redirect("experiments:runs", project.slug, experiment_id)
