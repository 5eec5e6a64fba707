"""The site admins' review of projects waiting for a decision: approve (with the project's quota,
prefilled with the site's default, in one step) or reject.

It lives with the quotas because approving writes both the decision and the quota
(``approval.approve_with_quota``): quotas depend on projects, never the other way.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from portal.forms import apply_errors
from portal.projects.access import Need, get_project_for_user, site_admin_required
from portal.projects.actions import reject_project
from portal.projects.forms import RejectForm
from portal.projects.models import Project

from .approval import approve_with_quota
from .forms import ApprovalForm


def approval_form(project: Project, data=None):
    """The approve form of one pending project: its quota, prefilled with the site's default."""
    return ApprovalForm(data, auto_id=f"id_{project.slug}_%s")


def _review(request: HttpRequest, invalid: tuple[Project, object] | None = None) -> HttpResponse:
    pending = Project.objects.filter(status=Project.Status.PENDING).select_related("requested_by")
    decided = (
        Project.objects.exclude(status=Project.Status.PENDING)
        .select_related("requested_by", "decided_by")
        .order_by("-decided_at", "-created_at")
    )
    page = Paginator(pending.order_by("created_at"), 25).get_page(request.GET.get("page"))
    for project in page:
        bound = invalid is not None and invalid[0].pk == project.pk
        project.approval_form = invalid[1] if bound else approval_form(project)
    return render(
        request,
        "projects/review.html",
        {"pending": page, "decided": decided[:20], "reject_form": RejectForm()},
        status=400 if invalid else 200,
    )


@site_admin_required
def review(request: HttpRequest) -> HttpResponse:
    """Site admins: the projects waiting for a decision, and the latest decisions."""
    return _review(request)


@site_admin_required
@require_POST
def decide(request: HttpRequest, slug: str, decision: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Need.MANAGE)
    try:
        if decision == "approve":
            form = approval_form(project, request.POST)
            if not form.is_valid():
                return _review(request, (project, form))
            try:
                approve_with_quota(request.user, project, form.cleaned_data["reason"], form.quota())
            except ValidationError as error:
                apply_errors(form, error)
                return _review(request, (project, form))
            messages.success(request, _("“%(name)s” approved.") % {"name": project.name})
        else:
            reject_project(request.user, project, request.POST.get("reason", ""))
            messages.success(request, _("“%(name)s” rejected.") % {"name": project.name})
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    if url_has_allowed_host_and_scheme(
        next_url := request.POST.get("next", ""), {request.get_host()}, request.is_secure()
    ):
        return redirect(next_url)
    return redirect("quotas:project-review")
