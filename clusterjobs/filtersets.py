"""One filterset for the job lists: the pages and the API filter the same way."""

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from portal.filters import UtcIsoDateTimeFilter

from .models import Job, JobStatus


class JobFilterSet(django_filters.FilterSet):
    project = django_filters.CharFilter(
        field_name="project__slug", label=_("Project"), help_text=_("The project's slug.")
    )
    status = django_filters.MultipleChoiceFilter(
        choices=JobStatus.choices,
        label=_("Status"),
        help_text=_("One or more statuses."),
        widget=forms.CheckboxSelectMultiple,
    )
    submitter = django_filters.CharFilter(
        field_name="submitter__username", label=_("Submitted by"), help_text=_("A username.")
    )
    created_after = UtcIsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", label=_("Created from"), help_text=_("ISO 8601 time.")
    )
    created_before = UtcIsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", label=_("Created before"), help_text=_("ISO 8601 time.")
    )

    class Meta:
        model = Job
        fields = ["project", "status", "submitter", "created_after", "created_before"]
