"""Provenance pages of a job, a run and a model version (one template), their RO-Crate download
(``?download=zip`` or ``?download=json``), and the reproduce button's POST.

Membership first (``subjects``), then the trail. A page makes at most one MLflow call: the job's
and the run's fetch the run, the version's fetches the version; what needs another call comes as
an htmx fragment of its own URL (one call each, the same membership check, a page of its own
without JavaScript): the versions registered from a run (``versions_part``) and, for the version
page, its run's code, data and parameters (``run_part``). The RO-Crate downloads assemble the
whole trail (a download, not a page). MLflow being down is said on the page or in the fragment; a
model version, which cannot be found without MLflow, gets the service's message page."""

from collections.abc import Callable
from functools import partial

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from experiments import gateway
from experiments.views import mlflow_page
from portal.projects.access import Need, can

from . import actions, crate, subjects
from . import trail as trails
from .data import as_data, version_link
from .trail import Trail


def _page(request: HttpRequest, find: Callable[..., Trail], subject: str) -> HttpResponse:
    download = request.GET.get("download", "")
    if download in ("zip", "json"):
        data = as_data(find(page=False))
        return crate_response(crate.build(data, request.build_absolute_uri), download, data)
    trail = find(page=True)
    data = as_data(trail)
    context = {
        "project": trail.project,
        "trail": trail,
        "p": data,
        "subject": subject,
        "can_reproduce": trail.job is not None and can(request.user, trail.project, Need.CHANGE),
        "page_path": request.path,
    }
    return render(request, "clusterjobs/provenance.html", context)


def crate_response(built, download: str, data: dict) -> HttpResponse:
    """The crate as a download: zipped, or its ro-crate-metadata.json."""
    job = data["job"]
    stem = (
        f"taller-job-{job['id']}"
        if job
        else f"taller-run-{data['run']['run_id']}"
        if data["run"]
        else "taller"
    )
    if download == "zip":
        response = HttpResponse(crate.zipped(built), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{stem}-ro-crate.zip"'
    else:
        response = HttpResponse(crate.metadata_json(built), content_type="application/ld+json")
        response["Content-Disposition"] = f'attachment; filename="{stem}-{crate.METADATA}"'
    return response


@mlflow_page
def job_provenance(request: HttpRequest, pk: int) -> HttpResponse:
    return _page(request, partial(subjects.job_trail, request.user, pk), "job")


@mlflow_page
def run_provenance(request: HttpRequest, slug: str, run_id: str) -> HttpResponse:
    project = subjects.get_project_for_user(request.user, slug)
    return _page(request, partial(subjects.run_trail, request.user, run_id, project), "run")


@mlflow_page
def version_provenance(request: HttpRequest, slug: str, name: str, version: str) -> HttpResponse:
    return _page(request, partial(subjects.version_trail, request.user, slug, name, version), "version")


def _part(request: HttpRequest, project, run_id: str, part: str, context: dict, status: int = 200):
    template = (
        f"clusterjobs/provenance_part.html#{part}" if request.htmx else "clusterjobs/provenance_part.html"
    )
    context = {"project": project, "run_id": run_id, "part": part, **context}
    return render(request, template, context, status=status)


@login_required
def versions_part(request: HttpRequest, slug: str, run_id: str) -> HttpResponse:
    """The project's model versions registered from a run: one registry search. Another
    project's run (or an unknown one) has none of this project's, so it shows none."""
    project = subjects.get_project_for_user(request.user, slug)
    if not gateway.looks_like_id(run_id):
        raise Http404(_("No such run."))
    try:
        versions = trails.run_versions(project, run_id)
    except gateway.GatewayError as error:
        problem = _(
            "MLflow is unavailable, so the model versions registered from this run are not shown: %(error)s"
        ) % {"error": error}
        return _part(request, project, run_id, "versions", {"problem": problem})
    links = [version_link(project.slug, version) for version in versions]
    return _part(request, project, run_id, "versions", {"versions": links})


@login_required
def run_part(request: HttpRequest, slug: str, run_id: str) -> HttpResponse:
    """A run's code, data versions and parameters, for a model version's page: one run fetch
    (the job, if the project's, from the database). 404 for a run that is not the project's."""
    project = subjects.get_project_for_user(request.user, slug)
    try:
        trail = subjects.run_trail(request.user, run_id, project, page=True)
    except Http404:
        if not request.htmx:
            raise
        # htmx swaps only a 2xx answer: the reason goes in its place instead of "Loading…".
        problem = _("The run %(id)s was not found in this project; it may have been deleted.") % {
            "id": run_id
        }
        return _part(request, project, run_id, "run", {"problem": problem})
    except gateway.GatewayError as error:
        problem = _(
            "MLflow is unavailable, so the run's code, data versions and parameters are not shown: %(error)s"
        ) % {"error": error}
        return _part(request, project, run_id, "run", {"problem": problem})
    return _part(request, project, run_id, "run", {"p": as_data(trail), "trail": trail})


@login_required
@require_POST
def reproduce(request: HttpRequest, pk: int) -> HttpResponse:
    """Reproduce a job (the run and version pages' buttons name the job behind them)."""
    job = subjects.job_to_reproduce(
        request.user, Trail(project=None, job=subjects.visible_job(request.user, pk))
    )
    back = request.POST.get("next", "")
    try:
        new = actions.reproduce_job(request.user, job)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        safe = url_has_allowed_host_and_scheme(back, {request.get_host()}, require_https=request.is_secure())
        return redirect(back if back and safe else job.get_absolute_url())
    messages.success(request, _("Reproduction submitted as job %(id)s.") % {"id": new.pk})
    return redirect("clusterjobs:detail", pk=new.pk)
