"""Pages of a project's deployments: the list, a new one (from a model version's page), one
deployment with its traffic and its controls (version, roll back, scale, stop)."""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from portal.errors import ServiceUnavailable
from portal.forms import apply_errors
from portal.projects.access import Need, can, get_project_for_user

from . import actions, keys, samples, traffic
from .forms import DeploymentForm, SamplingForm, ScaleForm, VersionForm
from .models import Deployment, DeploymentKey


@login_required
def deployment_list(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    deployments = Deployment.objects.filter(project=project).order_by("-created_at")[:200]
    context = {
        "project": project,
        "deployments": deployments,
        "can_change": can(request.user, project, Need.CHANGE),
    }
    return render(request, "deployments/list.html", context)


@login_required
def new(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Need.CHANGE)
    if request.method == "POST":
        form = DeploymentForm(request.POST)
        if form.is_valid():
            try:
                deployment = actions.create_deployment(request.user, project, **form.cleaned_data)
            except (ValidationError, ServiceUnavailable) as error:
                apply_errors(form, error)
            else:
                messages.success(request, _("Deployment %(name)s is starting.") % {"name": deployment.name})
                return redirect(deployment)
    else:
        form = DeploymentForm(
            initial={k: request.GET[k] for k in ("model", "version", "alias") if k in request.GET}
        )
    return render(request, "deployments/new.html", {"project": project, "form": form})


def _deployment(request: HttpRequest, slug: str, name: str, need: Need = Need.VIEW) -> Deployment:
    project = get_project_for_user(request.user, slug, need)
    deployment = Deployment.objects.filter(project=project, name=name).select_related("project").first()
    if deployment is None:
        raise Http404(_("No such deployment."))
    return deployment


@login_required
def detail(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    deployment = _deployment(request, slug, name)
    rows = traffic.series(deployment.pk)
    context = {
        "traffic": rows,
        "chart_rows": [{**row, "minute": row["minute"].isoformat()} for row in rows],
        "totals": traffic.totals(deployment.pk, rows[0]["minute"]),
        "keys": deployment.keys.all()[:100],
        "new_key": request.session.pop(f"deployment-key-{deployment.pk}", None),
        "project": deployment.project,
        "deployment": deployment,
        "can_change": can(request.user, deployment.project, Need.CHANGE),
        "version_form": VersionForm(),
        "scale_form": ScaleForm(initial={"replicas": deployment.replicas}),
        "sampling_form": SamplingForm(
            initial={
                "fraction": deployment.sample_fraction,
                "retention_days": deployment.sample_retention_days,
            }
        ),
    }
    return render(request, "deployments/detail.html", context)


def _control(verb):
    @login_required
    @require_POST
    def view(request: HttpRequest, slug: str, name: str) -> HttpResponse:
        deployment = _deployment(request, slug, name, Need.CHANGE)
        try:
            verb(request, deployment)
        except (ValidationError, ServiceUnavailable) as error:
            for message in getattr(error, "messages", [str(error)]):
                messages.error(request, message)
        return redirect(deployment)

    view.__name__ = verb.__name__
    return view


@_control
def update_version(request: HttpRequest, deployment: Deployment) -> None:
    post = request.POST
    actions.update_version(
        request.user, deployment, version=post.get("version", ""), alias=post.get("alias", "")
    )


@_control
def rollback(request: HttpRequest, deployment: Deployment) -> None:
    actions.roll_back(request.user, deployment)


@_control
def scale(request: HttpRequest, deployment: Deployment) -> None:
    actions.scale(request.user, deployment, replicas=request.POST.get("replicas", ""))


@_control
def stop(request: HttpRequest, deployment: Deployment) -> None:
    actions.stop(request.user, deployment)


@_control
def new_key(request: HttpRequest, deployment: Deployment) -> None:
    """The key is shown once, on the page the browser is sent back to (kept in the session)."""
    _key, raw = keys.create_key(request.user, deployment, request.POST.get("name", ""))
    request.session[f"deployment-key-{deployment.pk}"] = raw


@login_required
@require_POST
def revoke_key(request: HttpRequest, slug: str, name: str, key_id: int) -> HttpResponse:
    deployment = _deployment(request, slug, name, Need.CHANGE)
    key = DeploymentKey.objects.filter(deployment=deployment, pk=key_id).first()
    if key is None:
        raise Http404(_("No such key."))
    keys.revoke_key(request.user, key)
    return redirect(deployment)


@_control
def sampling(request: HttpRequest, deployment: Deployment) -> None:
    samples.set_sampling(
        request.user,
        deployment,
        fraction=request.POST.get("fraction", ""),
        retention_days=request.POST.get("retention_days", ""),
    )


SAMPLES_PAGE = 20


@login_required
def sample_list(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    """The latest sampled calls, paged (loaded into the deployment page by htmx). Inputs may be
    sensitive: members, owners and site admins only."""
    deployment = _deployment(request, slug, name, Need.CHANGE)
    page = Paginator(samples.samples_of(deployment), SAMPLES_PAGE).get_page(request.GET.get("page"))
    context = {"project": deployment.project, "deployment": deployment, "page": page}
    return render(request, "deployments/samples.html", context)


def _time(request: HttpRequest, field: str):
    raw = request.GET.get(field, "")
    if not raw:
        return None
    try:
        moment = parse_datetime(raw)
    except ValueError:
        moment = None
    if moment is None:
        raise ValidationError({field: _("Not a date and time (ISO 8601).")})
    return moment


@login_required
def sample_download(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    """The sampled calls between ``since`` and ``until`` as JSON lines, streamed."""
    deployment = _deployment(request, slug, name, Need.CHANGE)
    try:
        since, until = _time(request, "since"), _time(request, "until")
    except ValidationError as error:
        return HttpResponse("\n".join(error.messages), status=400, content_type="text/plain")

    def lines():
        found = samples.samples_of(deployment, since=since, until=until)
        for sample in found.iterator(chunk_size=200):
            yield json.dumps(samples.as_row(sample)) + "\n"

    response = StreamingHttpResponse(lines(), content_type="application/jsonl")
    response["Content-Disposition"] = f'attachment; filename="{deployment.name}-samples.jsonl"'
    return response
