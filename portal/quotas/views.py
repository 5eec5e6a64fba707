"""Quota pages: a project's quota, use over time, history and requests; the submission preview;
the site admins' overview and CSV export. Thin views over actions.py, usage.py and admission."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from clusterjobs.forms import JobForm
from portal.forms import apply_errors
from portal.projects.access import Need, can, get_project_for_user, require_site_admin, site_admin_required
from portal.projects.models import Membership, Project

from . import actions, admission, usage
from .export import usage_csv_rows
from .forms import DecisionForm, MemberCapForm, PreviewForm, QuotaForm, QuotaRequestForm
from .models import QUOTA_FIELDS, MemberCap, QuotaChange, QuotaRequest
from .summary import quota_summary


def _window(request: HttpRequest, default_period: str) -> tuple[usage.Window, str]:
    try:
        return usage.parse_window(request.GET.get("period", ""), default_period), ""
    except ValueError as error:
        return usage.period_window(default_period), str(error)


def _page_context(request: HttpRequest, project: Project, **forms) -> dict:
    summary = quota_summary(project)
    quota = summary["quota"]
    window, period_error = _window(request, quota.period)
    changes = QuotaChange.objects.filter(project=project).select_related("actor", "request")
    requests = QuotaRequest.objects.filter(project=project).select_related("requested_by", "decided_by")
    caps = MemberCap.objects.filter(membership__project=project).select_related("membership__user")
    is_admin = request.user.is_site_admin
    can_manage = can(request.user, project, Need.MANAGE)
    series = usage.daily_series(project.pk, window)
    return {
        **summary,
        "project": project,
        "window": window,
        "previous_window": usage.previous_window(quota.period, window),
        "period_error": period_error,
        "members": usage.member_usage(project.pk, window),
        "total": usage.project_usage(project.pk, window),
        "series": series,
        # The plot's data as a table too, for those who cannot see the plot.
        "series_rows": list(
            zip(
                series["labels"],
                series["gpu_hours"],
                series["gpu_hours_cumulative"],
                series["cpu_hours"],
                series["cpu_hours_cumulative"],
                strict=True,
            )
        ),
        "changes": Paginator(changes, 10).get_page(request.GET.get("changes")),
        "requests": Paginator(requests, 10).get_page(request.GET.get("requests")),
        "caps": caps[:200],
        "is_admin": is_admin,
        "can_manage": can_manage,
        "quota_form": forms.get("quota_form")
        or (QuotaForm(initial=quota.limits(), auto_id="quota-%s") if is_admin else None),
        "request_form": forms.get("request_form")
        or (QuotaRequestForm(auto_id="request-%s") if can_manage else None),
        "cap_form": forms.get("cap_form") or (MemberCapForm(auto_id="cap-%s") if can_manage else None),
        "decision_form": DecisionForm(),
        "preview_form": PreviewForm(auto_id="preview-%s"),
    }


@login_required
def quota_page(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    return render(request, "quotas/project.html", _page_context(request, project))


def _back(project: Project) -> HttpResponse:
    return redirect("quotas:project", slug=project.slug)


@login_required
@require_POST
def edit_quota(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    require_site_admin(request.user, _("Only a site admin can change a quota."))
    form = QuotaForm(request.POST, auto_id="quota-%s")
    if form.is_valid():
        values = {name: form.cleaned_data[name] for name in QUOTA_FIELDS}
        try:
            change = actions.update_quota(request.user, project, form.cleaned_data["reason"], **values)
        except ValidationError as error:
            apply_errors(form, error)
        else:
            if change is None:
                messages.info(request, _("No value changed."))
            else:
                messages.success(request, _("Quota changed."))
            return _back(project)
    return render(
        request, "quotas/project.html", _page_context(request, project, quota_form=form), status=400
    )


@login_required
@require_POST
def request_quota(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Need.MANAGE)
    form = QuotaRequestForm(request.POST, auto_id="request-%s")
    if form.is_valid():
        try:
            actions.request_quota(request.user, project, form.cleaned_data["reason"], **form.values())
        except ValidationError as error:
            apply_errors(form, error)
        else:
            messages.success(request, _("Request sent. A site admin will decide on it."))
            return _back(project)
    return render(
        request, "quotas/project.html", _page_context(request, project, request_form=form), status=400
    )


@login_required
@require_POST
def decide_request(request: HttpRequest, slug: str, pk: int, decision: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    require_site_admin(request.user, _("Only a site admin can decide on quota requests."))
    quota_request = get_object_or_404(QuotaRequest, pk=pk, project=project)
    reason = request.POST.get("reason", "")
    try:
        if decision == "approve":
            actions.approve_request(request.user, quota_request, reason)
            messages.success(request, _("Request approved; the quota changed."))
        else:
            actions.decline_request(request.user, quota_request, reason)
            messages.success(request, _("Request declined."))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    if request.POST.get("next") == "overview":
        return redirect("quotas:overview")
    return _back(project)


@login_required
@require_POST
def set_member_cap(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Need.MANAGE)
    form = MemberCapForm(request.POST, auto_id="cap-%s")
    if form.is_valid():
        membership = (
            Membership.objects.filter(project=project, user__username=form.cleaned_data["username"])
            .select_related("user", "project")
            .first()
        )
        if membership is None:
            form.add_error("username", _("No member of this project has that username."))
        else:
            try:
                actions.set_member_cap(
                    request.user,
                    membership,
                    max_gpus=form.cleaned_data["max_gpus"],
                    max_running_jobs=form.cleaned_data["max_running_jobs"],
                )
            except ValidationError as error:
                apply_errors(form, error)
            else:
                messages.success(request, _("Member cap saved."))
                return _back(project)
    return render(request, "quotas/project.html", _page_context(request, project, cap_form=form), status=400)


@login_required
@require_GET
def preview(request: HttpRequest, slug: str) -> HttpResponse:
    """What a job of these resources would do now: start, wait for quota, or be rejected, and what
    it costs of the budget. A fragment for the submission form (htmx), or a small page."""
    project = get_project_for_user(request.user, slug, Need.CHANGE)
    if "command" in request.GET:  # the submission form's fields: a verdict on the whole job
        return _job_preview(request, project)
    form = PreviewForm(request.GET)
    context: dict = {"project": project, "form": form}
    if form.is_valid():
        quota = actions.ensure_quota(project)
        result = admission.preview(quota, submitter=request.user, **form.cleaned_data)
        if not project.is_active():
            result["outcome"] = "rejected"
            result["errors"] = {"project": [_("Only an active project runs jobs.")]}
        context["result"] = result
    template = "quotas/preview.html#result" if request.htmx else "quotas/preview.html"
    return render(request, template, context)


def _job_preview(request: HttpRequest, project: Project) -> HttpResponse:
    """The preview of the submission form: green only when the whole form would be accepted, else
    why not (the form's own errors, field by field)."""
    form = JobForm(request.GET, user=request.user, project=project)
    context: dict = {"project": project, "form": form, "job_form": True}
    if form.is_valid():
        asked = form.request
        context["result"] = admission.preview(
            actions.ensure_quota(project),
            submitter=request.user,
            cpu=asked.cpu,
            memory_mib=asked.memory_mib,
            gpus=asked.gpus,
            time_limit_minutes=asked.time_limit_minutes,
        )
    return render(request, "quotas/preview.html#result", context)


def _overview_rows(projects: list[Project], window: usage.Window) -> list[dict]:
    used = usage.projects_usage([p.pk for p in projects], window)
    held = admission.holdings([p.pk for p in projects])
    rows = []
    for project in projects:
        quota = getattr(project, "quota", None)
        use = used[project.pk]
        rows.append(
            {
                "project": project,
                "quota": quota,
                "usage": use,
                "held": held[project.pk],
                "gpu_share": _share(use.gpu_hours, quota.gpu_hours_per_period if quota else 0),
                "cpu_share": _share(use.cpu_hours, quota.cpu_hours_per_period if quota else 0),
            }
        )
    return rows


def _share(used, budget) -> float | None:
    """Use as a percentage of a budget (None for no budget: nothing to share)."""
    return round(100 * float(used) / float(budget), 1) if budget else None


@site_admin_required
def overview(request: HttpRequest) -> HttpResponse:
    """Site admins: every project's use in a period against its quota, a page at a time."""
    window, period_error = _window(request, "monthly")
    projects = Project.objects.select_related("quota").order_by("name", "pk")
    page = Paginator(projects, 25).get_page(request.GET.get("page"))
    rows = _overview_rows(list(page), window)
    # Use as a share of each project's budget: projects of any size on one scale, 100 % is the budget.
    chart = {
        "labels": [row["project"].slug for row in rows],
        "gpu_share": [row["gpu_share"] for row in rows],
        "cpu_share": [row["cpu_share"] for row in rows],
    }
    pending = QuotaRequest.objects.filter(status=QuotaRequest.Status.PENDING).select_related(
        "project", "requested_by"
    )
    return render(
        request,
        "quotas/overview.html",
        {
            "page": page,
            "rows": rows,
            "chart": chart,
            "window": window,
            "previous_window": usage.previous_window("monthly", window),
            "period_error": period_error,
            "pending": Paginator(pending.order_by("requested_at"), 25).get_page(request.GET.get("requests")),
            "query": f"period={window.label}",
        },
    )


@site_admin_required
def export_csv(request: HttpRequest) -> HttpResponse:
    """Site admins: every project's use in one period, as CSV for reports to funding bodies."""
    try:
        window = usage.parse_window(request.GET.get("period", ""), "monthly")
    except ValueError as error:
        return HttpResponse(str(error), status=400, content_type="text/plain; charset=utf-8")
    response = StreamingHttpResponse(usage_csv_rows(window), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="taller-usage-{window.label}.csv"'
    return response
