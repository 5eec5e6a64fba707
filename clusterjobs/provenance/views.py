"""Provenance pages of a job, a run and a model version (one template), their RO-Crate download
(``?download=zip`` or ``?download=json``), and the reproduce button's POST.

Membership first (``subjects``), then the trail: a bounded number of MLflow calls (the version,
the run, the versions registered from it). MLflow being down is said on the page; a model version,
which cannot be found without MLflow, gets the service's message page."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from experiments.views import mlflow_page
from portal.projects.access import Need, can

from . import actions, crate, subjects
from .data import as_data
from .trail import Trail


def _page(request: HttpRequest, trail: Trail, subject: str) -> HttpResponse:
    data = as_data(trail)
    download = request.GET.get("download", "")
    if download in ("zip", "json"):
        return crate_response(crate.build(data, request.build_absolute_uri), download, data)
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
    return _page(request, subjects.job_trail(request.user, pk), "job")


@mlflow_page
def run_provenance(request: HttpRequest, slug: str, run_id: str) -> HttpResponse:
    project = subjects.get_project_for_user(request.user, slug)
    return _page(request, subjects.run_trail(request.user, run_id, project), "run")


@mlflow_page
def version_provenance(request: HttpRequest, slug: str, name: str, version: str) -> HttpResponse:
    return _page(request, subjects.version_trail(request.user, slug, name, version), "version")


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
