"""The audit log's pages: a project's (its owners and site admins) and the whole log (site admins),
each filterable (one URL answers the page or, to htmx, its results) and exported as CSV with the
same filters. Read only: there is nothing to edit or delete here."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from . import audit
from .models import Project

PAGE_SIZE = 50


def _page(request: HttpRequest, events: QuerySet, project: Project | None, export_url: str) -> HttpResponse:
    filters = audit.AuditFilterSet(request.GET, queryset=audit.listed(events))
    shown = filters.qs if filters.is_valid() else events.none()
    page = Paginator(shown, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "project": project,
        "title": _("Audit log of %(project)s") % {"project": project.name} if project else _("Audit log"),
        "filters": filters,
        "page": page,
        "query": query.urlencode(),
        "export_url": export_url,
    }
    template = "projects/audit.html#results" if request.htmx else "projects/audit.html"
    return render(request, template, context)


def _csv(request: HttpRequest, events: QuerySet, project: Project | None) -> HttpResponse:
    filters = audit.AuditFilterSet(request.GET, queryset=events)
    if not filters.is_valid():
        lines = [f"{field}: {' '.join(errors)}" for field, errors in filters.errors.items()]
        return HttpResponse("\n".join(lines), status=400, content_type="text/plain; charset=utf-8")
    response = StreamingHttpResponse(audit.csv_lines(filters.qs), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{audit.csv_filename(project)}"'
    return response


@login_required
def project_audit(request: HttpRequest, slug: str) -> HttpResponse:
    project, events = audit.project_events(request.user, slug)
    return _page(request, events, project, "projects:audit-csv")


@login_required
def project_audit_csv(request: HttpRequest, slug: str) -> HttpResponse:
    project, events = audit.project_events(request.user, slug)
    return _csv(request, events, project)


@login_required
def site_audit(request: HttpRequest) -> HttpResponse:
    return _page(request, audit.site_events(request.user), None, "audit:csv")


@login_required
def site_audit_csv(request: HttpRequest) -> HttpResponse:
    return _csv(request, audit.site_events(request.user), None)
