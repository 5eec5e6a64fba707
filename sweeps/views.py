"""Sweep pages: a project's sweeps, the form, and a sweep's page (its trials live through the
``#trials`` fragment, its best trial, the charts of the runs pages), with pause, resume, stop and
"add N trials". Every page asks ``access``; a page runs a bounded number of queries and no call
to MLflow."""

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

from . import actions, charts
from .forms import EXAMPLE, SweepForm
from .models import Sweep
from .runner import best_of

PAGE_SIZE = 25


@login_required
def project_sweeps(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    sweeps = project.sweeps.select_related("created_by").order_by("-created_at", "-pk")
    page = Paginator(sweeps, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"project": project, "page": page, "can_change": can(request.user, project, Need.CHANGE)}
    return render(request, "sweeps/list.html", context)


@login_required
def new_sweep(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Need.CHANGE)
    if request.method == "POST":
        form = SweepForm(request.POST, user=request.user, project=project)
        if form.is_valid():
            try:
                sweep = actions.create_sweep(request.user, project, form.definition)
            except (ValidationError, ServiceUnavailable) as error:
                apply_errors(form, error)
            else:
                messages.success(request, _("Sweep %(id)s started.") % {"id": sweep.pk})
                return redirect("sweeps:detail", pk=sweep.pk)
    else:
        form = SweepForm(initial={"definition": EXAMPLE}, user=request.user, project=project)
    return render(request, "sweeps/new.html", {"form": form, "project": project})


def _sweep_for_user(request: HttpRequest, pk: int) -> Sweep:
    return get_object_or_404(
        Sweep.objects.visible_to(request.user).select_related("project", "created_by"), pk=pk
    )


@login_required
def sweep_detail(request: HttpRequest, pk: int) -> HttpResponse:
    sweep = _sweep_for_user(request, pk)
    trials = list(sweep.trials.select_related("job"))
    best = best_of(sweep, trials)
    context = {
        "sweep": sweep,
        "trials": trials,
        "best": best,
        "live": not sweep.is_finished() or any(t.state == "active" for t in trials),
        "can_change": can(request.user, sweep.project, Need.CHANGE),
        "counts": {
            state: sum(t.state == state for t in trials)
            for state in ("active", "complete", "failed", "pruned", "cancelled")
        },
    }
    if request.htmx and request.GET.get("fragment") == "trials":
        return render(request, "sweeps/detail.html#trials", context)
    context["chart_data"] = charts.chart_data(sweep, trials)
    return render(request, "sweeps/detail.html", context)


VERBS = {
    "pause": (actions.pause_sweep, gettext_lazy("Sweep paused: running trials go on, no new ones start.")),
    "resume": (actions.resume_sweep, gettext_lazy("Sweep resumed.")),
    "stop": (actions.stop_sweep, gettext_lazy("Sweep stopped: its running trials were cancelled.")),
}


@login_required
@require_POST
def change(request: HttpRequest, pk: int, verb: str) -> HttpResponse:
    sweep = _sweep_for_user(request, pk)
    check(
        request.user,
        sweep.project,
        Need.CHANGE,
        _("Only members and owners of the project change its sweeps."),
    )
    try:
        if verb == "extend":
            asked = request.POST.get("trials", "")
            actions.extend_sweep(request.user, sweep, int(asked) if asked.isdigit() else -1)
            done = _("More trials added.")
        elif verb in VERBS:
            verb_action, done = VERBS[verb]
            verb_action(request.user, sweep)
        else:
            raise Http404
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, str(done))
    return redirect("sweeps:detail", pk=sweep.pk)
