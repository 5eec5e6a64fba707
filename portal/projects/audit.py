"""Reading the audit log: who may read which events, the one filterset the pages and the API share,
and the CSV export (streamed in keyset chunks, so a large log is never held in memory).

A project's events are read by its owners and the site admins; the whole log (events of every
project, and those of no project: personal tokens) by site admins only. Nobody changes it: the
pages and the API only list and export, and the model refuses updates and deletes.
"""

import csv
from collections.abc import Iterator
from datetime import timedelta

import django_filters
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from portal.filters import UtcIsoDateTimeFilter

from .access import Need, check, get_project_for_user, require_site_admin
from .models import AuditEvent, AuditKind, Project

CSV_HEADER = ["time", "project", "actor", "kind", "action", "target", "details"]
CSV_CHUNK = 2000
# A spreadsheet runs a cell that starts with one of these as a formula: such cells get a quote.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class AuditFilterSet(django_filters.FilterSet):
    project = django_filters.CharFilter(
        field_name="project__slug", label=_("Project"), help_text=_("The project's slug.")
    )
    actor = django_filters.CharFilter(
        field_name="actor_name", lookup_expr="iexact", label=_("Who"), help_text=_("A username.")
    )
    kind = django_filters.ChoiceFilter(
        choices=AuditKind.choices, label=_("Kind"), help_text=_("What the change was about.")
    )
    action = django_filters.CharFilter(
        field_name="verb", label=_("Action"), help_text=_("An action exactly, e.g. job.cancel.")
    )
    target = django_filters.CharFilter(
        field_name="target",
        lookup_expr="icontains",
        label=_("Target"),
        help_text=_("Part of the changed object's name, e.g. “job 42”."),
    )
    since = UtcIsoDateTimeFilter(
        field_name="at",
        lookup_expr="gte",
        label=_("From"),
        help_text=_("ISO 8601 date or time; events at or after it."),
    )
    until = UtcIsoDateTimeFilter(
        method="filter_until",
        label=_("Until"),
        help_text=_("ISO 8601 date or time; events before it (a date alone includes that whole day)."),
    )

    class Meta:
        model = AuditEvent
        fields = ["project", "actor", "kind", "action", "target", "since", "until"]

    def filter_until(self, events: QuerySet, name: str, value) -> QuerySet:
        if len(self.data.get("until", "")) <= len("2026-01-01"):  # a date alone: its whole day
            value += timedelta(days=1)
        return events.filter(at__lt=value)


def project_events(user, slug: str) -> tuple[Project, QuerySet]:
    """The events of a project, for its owners and site admins (404 for those who do not see the
    project, 403 for the others who do)."""
    project = get_project_for_user(user, slug)
    check(user, project, Need.MANAGE, _("Only the project's owners and site admins read its audit log."))
    return project, AuditEvent.objects.filter(project=project)


def site_events(user) -> QuerySet:
    """Every event, for site admins."""
    require_site_admin(user, _("Only site admins read the whole audit log."))
    return AuditEvent.objects.all()


def listed(events: QuerySet) -> QuerySet:
    """What a list shows, in one query whatever the number of events."""
    return events.select_related("project").order_by("-at", "-pk")


def _cell(value: str) -> str:
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(events: QuerySet) -> Iterator[str]:
    """The events as CSV lines, newest first, read ``CSV_CHUNK`` at a time by keyset (time, id):
    one query a chunk, and never more than a chunk in memory."""
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_HEADER)
    columns = ("pk", "at", "project__slug", "actor_name", "kind", "verb", "target", "message")
    events = events.order_by("-at", "-pk").values_list(*columns)
    after = None
    while True:
        chunk = events
        if after is not None:
            chunk = chunk.filter(Q(at__lt=after[0]) | Q(at=after[0], pk__lt=after[1]))
        rows = list(chunk[:CSV_CHUNK])
        for _pk, at, project, actor, kind, verb, target, message in rows:
            cells = [project or "", actor, kind, verb, target, message]
            yield writer.writerow([at.isoformat(), *(_cell(cell) for cell in cells)])
        if len(rows) < CSV_CHUNK:
            return
        after = (rows[-1][1], rows[-1][0])


def csv_filename(project: Project | None) -> str:
    return f"taller-audit-{project.slug}.csv" if project else "taller-audit.csv"
