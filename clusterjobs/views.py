"""Job pages: my jobs, a project's jobs, the job page with its live status and log, submission.

One URL serves a page and its htmx fragment (``#rows`` of a list, ``#live`` of a job, ``#fields``
of the form). Lists run a fixed number of queries whatever their length."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from portal.errors import ServiceUnavailable
from portal.forms import apply_errors
from portal.projects.access import Need, can, check, get_project_for_user
from portal.projects.models import Project

from . import actions, resource_use
from .backends import BackendError
from .filtersets import JobFilterSet
from .forms import JobForm, code_source_note, initial_from_job, initial_from_template
from .logs import MAX_QUERY_CHARS, PAGE_LINES, log_chunks, read_log, read_log_page
from .models import Job, JobTemplate

PAGE_SIZE = 25
LOG_LINES = 200


def _list(request: HttpRequest, jobs: QuerySet, context: dict) -> HttpResponse:
    jobs = jobs.select_related("project", "submitter").order_by("-created_at", "-pk")
    filters = JobFilterSet(request.GET, queryset=jobs)
    page = Paginator(filters.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context |= {
        "filters": filters,
        "page": page,
        "query": query.urlencode(),
        "polling": any(not job.is_terminal() for job in page),
    }
    template = "clusterjobs/list.html#rows" if request.htmx else "clusterjobs/list.html"
    return render(request, template, context)


@login_required
def my_jobs(request: HttpRequest) -> HttpResponse:
    jobs = Job.objects.visible_to(request.user).filter(submitter=request.user)
    return _list(request, jobs, {"title": _("My jobs"), "show_project": True})


@login_required
def project_jobs(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    context = {
        "title": _("Jobs of %(project)s") % {"project": project.name},
        "project": project,
        "can_change": can(request.user, project, Need.CHANGE),
    }
    return _list(request, project.jobs.all(), context)


def _job_for_user(request: HttpRequest, pk: int) -> Job:
    """A job of a project the user can see, else 404 (its existence is not revealed)."""
    return get_object_or_404(
        Job.objects.visible_to(request.user).select_related("project", "submitter"), pk=pk
    )


@login_required
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job_for_user(request, pk)
    fragment = request.GET.get("fragment") if request.htmx else None
    context = {
        "job": job,
        "can_change": can(request.user, job.project, Need.CHANGE),
        # Follow mode (the log polls) while the job runs, unless the reader turned it off; the
        # fragments ask for it with follow=1, the checkbox sends nothing when unticked.
        "following": not job.is_terminal() and (fragment != "log" or request.GET.get("follow") == "1"),
        "shows_use": bool(settings.TALLER_PROMETHEUS_URL) and resource_use.is_observable(job),
    }
    if fragment != "live":
        lines, complete, problem = read_log(job, LOG_LINES)
        context |= {"log_lines": lines, "log_complete": complete, "log_problem": problem}
    if fragment == "log":
        return render(request, "clusterjobs/detail.html#log", context)
    context["transitions"] = job.transitions.all()
    if fragment == "live":
        return render(request, "clusterjobs/detail.html#live", context)
    context["env"] = job.shown_env()
    context["reproductions"] = job.reproductions.only("pk").order_by("-pk")[:20]
    return render(request, "clusterjobs/detail.html", context)


@login_required
def job_resources(request: HttpRequest, pk: int) -> HttpResponse:
    """The job's CPU, memory and GPU use over its life, from one bounded Prometheus call: a page
    of its own, and the fragment the job page loads once it is shown (so the job page never
    waits on Prometheus)."""
    job = _job_for_user(request, pk)
    use = resource_use.resource_use(job)
    context = {
        "job": job,
        "use": use,
        "chart_rows": resource_use.chart_rows(use),
        "threshold": settings.TALLER_GPU_UNDERUSED_PERCENT,
    }
    template = "clusterjobs/resources.html#use" if request.htmx else "clusterjobs/resources.html"
    return render(request, template, context)


def _job_to_change(request: HttpRequest, pk: int) -> Job:
    """A job the user may change: 404 for a job they cannot see, 403 for a viewer's."""
    job = _job_for_user(request, pk)
    check(
        request.user, job.project, Need.CHANGE, _("Only members and owners of the project change its jobs.")
    )
    return job


@login_required
def job_log(request: HttpRequest, pk: int) -> HttpResponse:
    """The whole log, a page of PAGE_LINES lines at a time (the last page first), or the lines
    that match a search, with their line numbers."""
    job = _job_for_user(request, pk)
    query = request.GET.get("q", "").strip()[:MAX_QUERY_CHARS]
    asked = request.GET.get("page", "")
    page = int(asked) if asked.isdigit() and int(asked) > 0 else None
    result = read_log_page(job, page, query)
    numbers = range(1, result.pages + 1)
    context = {
        "job": job,
        "query": query,
        "result": result,
        # Each line with the page of the whole log it is on: a match links to its place.
        "rows": [(number, line, (number - 1) // PAGE_LINES + 1) for number, line in result.lines],
        # A few pages around this one, the first and the last: links stay few for a huge log.
        "page_links": [n for n in numbers if n in {1, result.pages} or abs(n - result.number) <= 3],
    }
    return render(request, "clusterjobs/log.html", context)


@login_required
def job_log_download(request: HttpRequest, pk: int) -> HttpResponse:
    """The whole log as a text file, streamed (never held whole)."""
    job = _job_for_user(request, pk)
    try:
        chunks = log_chunks(job)
    except BackendError as error:
        messages.error(request, _("The log is not available right now: %(problem)s") % {"problem": error})
        return redirect("clusterjobs:detail", pk=job.pk)
    response = StreamingHttpResponse(chunks, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="taller-{job.pk}.log"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


# A broken rule (ValidationError) is said on the job's page; a service that is down
# (ServiceUnavailable) is said by portal.errors.ServiceUnavailableMiddleware, as on every page.


@login_required
@require_POST
def cancel(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job_to_change(request, pk)
    try:
        actions.cancel_job(request.user, job)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Job cancelled."))
    return redirect("clusterjobs:detail", pk=job.pk)


@login_required
@require_POST
def rerun(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job_to_change(request, pk)
    try:
        new = actions.rerun_job(request.user, job)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Submitted again as job %(id)s.") % {"id": new.pk})
        return redirect("clusterjobs:detail", pk=new.pk)
    return redirect("clusterjobs:detail", pk=job.pk)


def _initial(request: HttpRequest, project: Project) -> tuple[dict, str]:
    """The form's starting values: a copied job of this project, a template, or the defaults."""
    if copy := request.GET.get("copy", ""):
        if copy.isdigit():
            job = Job.objects.visible_to(request.user).filter(pk=copy, project=project).first()
            if job is not None:
                return initial_from_job(job), _("Copied from job %(id)s: enter secret values again.") % {
                    "id": job.pk
                }
        return {}, _("No such job to copy in this project.")
    if template_id := request.GET.get("template", ""):
        template = (
            JobTemplate.offered_to(project).filter(pk=template_id).first() if template_id.isdigit() else None
        )
        if template is not None:
            return initial_from_template(template), _("Started from the template “%(title)s”.") % {
                "title": template.title
            }
        return {}, _("No such template.")
    return {}, ""


@login_required
def submit(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Need.CHANGE)
    note = ""
    if request.method == "POST":
        form = JobForm(request.POST, user=request.user, project=project)
        if request.GET.get("validate"):
            form.is_valid()
            return render(request, "clusterjobs/submit.html#fields", {"form": form, "project": project})
        if form.is_valid():
            try:
                job = actions.submit_job(request.user, project, form.request)
            except (ValidationError, ServiceUnavailable) as error:
                apply_errors(form, error)  # on the form, which keeps what was typed
            else:
                messages.success(request, _("Job %(id)s submitted.") % {"id": job.pk})
                return redirect("clusterjobs:detail", pk=job.pk)
    else:
        initial, note = _initial(request, project)
        form = JobForm(initial=initial, user=request.user, project=project)
    templates = JobTemplate.offered_to(project).only("pk", "title", "description", "project_id")[:50]
    context = {
        "form": form,
        "project": project,
        "templates": templates,
        "note": note,
        "code_source": code_source_note(),
    }
    return render(request, "clusterjobs/submit.html", context)
