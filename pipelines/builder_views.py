"""The pipeline builder page: a project's members assemble a pipeline from its job templates and
earlier jobs, see its YAML, check it as the API would, save it or run it. One URL answers the
page and (to htmx) its ``#builder`` fragment; every action posts the builder's one form."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_htmx.http import HttpResponseClientRedirect

from clusterjobs.models import Job, JobTemplate
from portal.errors import ServiceUnavailable
from portal.projects.access import Need, check, get_project_for_user

from . import actions, builder, definition
from .views import saved_pipeline

PICKER_PAGE = 8
REFUSAL = gettext_lazy("Only members and owners of the project run its pipelines.")


def _page(request: HttpRequest, name: str):
    value = request.POST.get(name) or request.GET.get(name) or "1"
    return value if value.isdigit() else "1"


def _pickers(request: HttpRequest, project) -> dict:
    """The template and earlier-job pickers: searched and paged, never the whole list."""
    params = request.POST if request.method == "POST" else request.GET
    template_q = params.get("template_q", "").strip()[:100]
    job_q = params.get("job_q", "").strip()[:100]
    templates = JobTemplate.offered_to(project).order_by("title", "pk")
    if template_q:
        templates = templates.filter(Q(title__icontains=template_q) | Q(description__icontains=template_q))
    jobs = project.jobs.order_by("-created_at", "-pk").only(
        "pk", "project_id", "name", "status", "created_at", "command"
    )
    if job_q:
        jobs = jobs.filter(
            Q(name__icontains=job_q) | Q(pk=int(job_q)) if job_q.isdigit() else Q(name__icontains=job_q)
        )
    return {
        "template_q": template_q,
        "job_q": job_q,
        "templates": Paginator(templates, PICKER_PAGE).get_page(_page(request, "template_page")),
        "jobs": Paginator(jobs, PICKER_PAGE).get_page(_page(request, "job_page")),
    }


@login_required
def build(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    check(request.user, project, Need.CHANGE, REFUSAL)
    limit = builder.max_steps()
    if request.method != "POST":
        if "pipeline" in request.GET:
            return _saved(request, project, limit)
        pipeline = builder.PipelineForm(initial={"name": "", "experiment": "default"})
        return _render(request, project, pipeline, [], [], "", "")
    rows = builder.states(request.POST, limit)
    post = request.POST
    note = ""
    final = next((verb for verb in ("check", "save", "run") if verb in post), None)
    if final is None:
        rows, note = _change(request, project, rows, limit)
        pipeline = builder.PipelineForm(
            initial={"name": post.get("name", ""), "experiment": post.get("experiment", "default")}
        )
        forms_ = builder.step_forms(rows)
        return _render(request, project, pipeline, rows, forms_, note, _preview(post, rows))
    pipeline = builder.PipelineForm(post)
    forms_ = builder.step_forms(rows, post)
    valid = pipeline.is_valid() & all([form.is_valid() for form in forms_])
    if not rows:
        pipeline.add_error(None, _("Add at least one step."))
        valid = False
    text = ""
    if valid:
        data = builder.data_of(pipeline, forms_)
        text = builder.as_yaml(data)
        try:
            done = _finish(request, project, final, data)
        except (ValidationError, ServiceUnavailable) as error:
            if isinstance(error, ServiceUnavailable):
                pipeline.add_error(None, str(error))
            else:
                builder.place(error, pipeline, forms_)
        else:
            if done is not None:
                return done
            note = _("Valid: %(n)s step(s), as the API would accept it.") % {"n": len(rows)}
    return _render(request, project, pipeline, rows, forms_, note, text)


def _saved(request: HttpRequest, project, limit: int) -> HttpResponse:
    """The builder holding a saved pipeline of the project, to change and save again (under its
    name) or run; one the builder cannot show whole goes to its YAML instead."""
    pipeline = saved_pipeline(request, project)
    data, notes = builder.without_secrets(pipeline.definition)
    rows = builder.rows_from_definition(data)
    if rows is None or len(rows) > limit:
        messages.info(
            request,
            _(
                "Pipeline “%(name)s” has what the builder does not show (a pinned commit, a code snapshot, DVC targets or more steps than it holds): change its definition here."
            )
            % {"name": pipeline.name},
        )
        return redirect(f"{reverse('pipelines:start', args=[project.slug])}?pipeline={pipeline.pk}")
    form = builder.PipelineForm(
        initial={"name": pipeline.name, "experiment": data.get("experiment", "default")}
    )
    said = _("Saved under its name, pipeline “%(name)s” is changed; under another, a new one is kept.") % {
        "name": pipeline.name
    }
    return _render(request, project, form, rows, builder.step_forms(rows), " ".join([said, *notes]), "")


def _change(request: HttpRequest, project, rows: list[dict], limit: int) -> tuple[list[dict], str]:
    """Add or remove a step (or only re-show the builder: a search, a page of a picker)."""
    post = request.POST
    adding = any(name in post for name in ("add_template", "add_job", "add_blank"))
    if adding and len(rows) >= limit:
        return rows, _("A pipeline has at most %(max)s steps here.") % {"max": limit}
    if (template_id := post.get("add_template", "")).isdigit():
        template = JobTemplate.offered_to(project).filter(pk=template_id).first()
        if template is None:
            return rows, _("No such template.")
        return [*rows, builder.row_from_template(template, rows)], ""
    if (job_id := post.get("add_job", "")).isdigit():
        job = Job.objects.filter(project=project, pk=job_id).first()
        if job is None:
            return rows, _("No such job to copy in this project.")
        row, note = builder.row_from_job(job, rows)
        return [*rows, row], note
    if "add_blank" in post:
        return [*rows, builder._row({"name": "step"}, "", rows)], ""
    if key := post.get("remove", ""):
        return builder.remove(rows, key), ""
    return rows, ""


def _preview(post, rows: list[dict]) -> str:
    """The YAML of what is in the builder now, if every step reads (unchecked: "check" does that)."""
    data = {"name": post.get("name", ""), "experiment": post.get("experiment", "default")}
    for index, row in enumerate(rows):
        data |= {f"step-{index}-{field}": value for field, value in row.items()}
    pipeline = builder.PipelineForm(data)
    forms_ = builder.step_forms(rows, data)
    if not rows or not pipeline.is_valid() or not all([form.is_valid() for form in forms_]):
        return ""
    return builder.as_yaml(builder.data_of(pipeline, forms_))


def _finish(request: HttpRequest, project, verb: str, data: dict) -> HttpResponse | None:
    """Check, save or run the definition; a response when the builder is left."""
    if verb == "check":
        definition.check(request.user, project, data)
        return None
    if verb == "save":
        pipeline, _checked = actions.define_pipeline(request.user, project, data)
        messages.success(request, _("Pipeline “%(name)s” saved.") % {"name": pipeline.name})
        url = reverse("pipelines:schedules", args=[project.slug])
    else:
        run = actions.start_pipeline(request.user, project, data)
        messages.success(request, _("Pipeline run %(id)s started.") % {"id": run.pk})
        url = run.get_absolute_url()
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _render(request, project, pipeline, rows, forms_, note: str, text: str) -> HttpResponse:
    context = {
        "project": project,
        "pipeline": pipeline,
        "steps": forms_,
        "count": len(rows),
        "limit": builder.max_steps(),
        "note": note,
        "yaml": text,
        **_pickers(request, project),
    }
    template = "pipelines/build.html#builder" if request.htmx else "pipelines/build.html"
    return render(request, template, context)
