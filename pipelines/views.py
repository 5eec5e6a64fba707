"""Pipeline pages: a project's runs, running a definition, a run's page with its live graph
(one URL: the page and its ``#live`` fragment, polled while the run goes on), cancel, re-run."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from portal.errors import ServiceUnavailable
from portal.forms import apply_errors
from portal.projects.access import Need, can, check, get_project_for_user

from . import actions, builder, definition, graph
from .models import Pipeline, PipelineRun, StepRun

PAGE_SIZE = 25
EXAMPLE = """name: train-and-evaluate
steps:
  - name: prepare
    command: [python, -c, "print('preparing')"]
  - name: train
    depends_on: [prepare]
    retries: 1
    command: [python, -m, examples.train, --epochs, "3"]
  - name: evaluate
    depends_on: [train]
    command: [python, -c, "import os; print(os.environ['UPSTREAM_TRAIN_RUN_ID'])"]
"""


class DefinitionForm(forms.Form):
    definition = forms.CharField(
        label=gettext_lazy("Definition (YAML or JSON)"),
        widget=forms.Textarea(attrs={"rows": 18, "spellcheck": "false", "class": "code"}),
        max_length=definition.MAX_DEFINITION_CHARS,
    )


@login_required
def project_runs(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    runs = project.pipeline_runs.select_related("pipeline", "started_by").order_by("-created_at", "-pk")
    page = Paginator(runs, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"project": project, "page": page, "can_change": can(request.user, project, Need.CHANGE)}
    return render(request, "pipelines/list.html", context)


@login_required
def start(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    check(request.user, project, Need.CHANGE, _("Only members and owners of the project run its pipelines."))
    form = DefinitionForm(request.POST or None, initial={"definition": _initial(request, project)})
    if request.method == "POST" and form.is_valid():
        try:
            data = definition.parse(form.cleaned_data["definition"])
            data.pop("project", None)
            run = actions.start_pipeline(request.user, project, data)
        except (ValidationError, ServiceUnavailable) as error:
            _errors_on_form(form, error)
        else:
            messages.success(request, _("Pipeline run %(id)s started.") % {"id": run.pk})
            return redirect(run)
    return render(request, "pipelines/start.html", {"project": project, "form": form})


def _initial(request: HttpRequest, project) -> str:
    """The example, or with ``?pipeline=`` the saved pipeline's definition to change and run
    (its secret variables left out, and said so)."""
    if request.method == "POST" or "pipeline" not in request.GET:
        return EXAMPLE
    data, notes = builder.without_secrets(saved_pipeline(request, project).definition)
    for note in notes:
        messages.warning(request, note)
    return builder.as_yaml(builder.readable(data))


def saved_pipeline(request: HttpRequest, project) -> Pipeline:
    """The project's saved pipeline that ``?pipeline=`` names (by id), or a 404."""
    pk = request.GET.get("pipeline", "")
    if not pk.isdigit():
        raise Http404
    return get_object_or_404(project.pipelines, pk=pk)


def _errors_on_form(form: DefinitionForm, error: ValidationError | ServiceUnavailable) -> None:
    """Every refusal of a definition belongs to the one text box: name its part."""
    if isinstance(error, ValidationError) and hasattr(error, "error_dict"):
        for field, problems in error.message_dict.items():
            for problem in problems:
                form.add_error(
                    "definition", problem if field in ("definition", "steps") else f"{field}: {problem}"
                )
    else:
        apply_errors(form, error)


def _run_for_user(request: HttpRequest, pk: int) -> PipelineRun:
    runs = PipelineRun.objects.visible_to(request.user).select_related("pipeline", "project", "started_by")
    return get_object_or_404(runs, pk=pk)


@login_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = _run_for_user(request, pk)
    steps = list(StepRun.objects.filter(run=run).select_related("job").order_by("position"))
    context = {
        "run": run,
        "steps": steps,
        "graph": graph.layout(steps),
        "graph_summary": graph.summary(steps),
        "can_change": can(request.user, run.project, Need.CHANGE),
        "has_failed": run.is_finished() and any(step.status != "succeeded" for step in steps),
        "graph_open": any(step.is_open() for step in steps),
    }
    template = "pipelines/run.html#live" if request.htmx else "pipelines/run.html"
    return render(request, template, context)


def _run_to_change(request: HttpRequest, pk: int) -> PipelineRun:
    run = _run_for_user(request, pk)
    check(
        request.user, run.project, Need.CHANGE, _("Only members and owners of the project run its pipelines.")
    )
    return run


@login_required
@require_POST
def cancel(request: HttpRequest, pk: int) -> HttpResponse:
    run = _run_to_change(request, pk)
    try:
        actions.cancel_run(request.user, run)
    except (ValidationError, ServiceUnavailable) as error:
        messages.error(request, " ".join(getattr(error, "messages", [str(error)])))
    else:
        messages.success(request, _("Pipeline run cancelled."))
    return redirect(run)


@login_required
@require_POST
def rerun(request: HttpRequest, pk: int) -> HttpResponse:
    run = _run_to_change(request, pk)
    try:
        new = actions.rerun(request.user, run, from_failed=request.POST.get("from_failed") == "1")
    except (ValidationError, ServiceUnavailable) as error:
        messages.error(request, " ".join(getattr(error, "messages", [str(error)])))
        return redirect(run)
    messages.success(request, _("Pipeline run %(id)s started.") % {"id": new.pk})
    return redirect(new)
