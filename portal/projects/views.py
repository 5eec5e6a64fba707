from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from portal.forms import apply_errors

from . import actions
from .access import Need, can, get_project_for_user
from .forms import MemberForm, ProjectForm, RejectForm, RoleForm
from .models import Membership, Project


@login_required
def register(request: HttpRequest) -> HttpResponse:
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = actions.register_project(request.user, **form.cleaned_data)
        except ValidationError as error:
            apply_errors(form, error)
        else:
            messages.success(request, _("Project registered. A site admin will review it."))
            return redirect("projects:detail", slug=project.slug)
    return render(request, "projects/register.html", {"form": form})


def _members_context(request: HttpRequest, project: Project, member_form=None) -> dict:
    memberships = project.memberships.select_related("user").order_by("user__username")
    return {
        "project": project,
        "page": Paginator(memberships, 50).get_page(request.GET.get("page")),
        "member_form": member_form or MemberForm(),
        "can_manage": can(request.user, project, Need.MANAGE),
        "can_change": can(request.user, project, Need.CHANGE),
        "reject_form": RejectForm(),
    }


@login_required
def detail(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    return render(request, "projects/detail.html", _members_context(request, project))


def _member_response(request: HttpRequest, project: Project, form=None) -> HttpResponse:
    if request.htmx:
        return render(request, "projects/detail.html#members", _members_context(request, project, form))
    return redirect("projects:detail", slug=project.slug)


@login_required
@require_POST
def add_member(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Need.MANAGE)
    form = MemberForm(request.POST)
    if form.is_valid():
        try:
            actions.add_member(request.user, project, form.cleaned_data["user"], form.cleaned_data["role"])
        except ValidationError as error:
            apply_errors(form, error)
        else:
            messages.success(request, _("Member added."))
            form = None
    if form is not None and not request.htmx:
        for error in form.errors.values():
            messages.error(request, " ".join(error))
    return _member_response(request, project, form)


def _membership(request: HttpRequest, slug: str, pk: int) -> tuple[Project, Membership]:
    project = get_project_for_user(request.user, slug, Need.MANAGE)
    return project, get_object_or_404(Membership, pk=pk, project=project)


@login_required
@require_POST
def change_role(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project, membership = _membership(request, slug, pk)
    form = RoleForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError({"role": _("Choose owner, member or viewer.")})
        actions.change_role(request.user, membership, form.cleaned_data["role"])
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return _member_response(request, project)


@login_required
@require_POST
def remove_member(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project, membership = _membership(request, slug, pk)
    try:
        actions.remove_member(request.user, membership)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        if membership.user_id == request.user.pk and not request.user.is_site_admin:
            messages.success(request, _("You left the project."))
            if request.htmx:
                return HttpResponseClientRedirect(reverse("dashboard"))
            return redirect("dashboard")
    return _member_response(request, project)


@login_required
@require_POST
def archive(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Need.MANAGE)
    try:
        actions.archive_project(request.user, project)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Project archived."))
    return redirect("projects:detail", slug=project.slug)
