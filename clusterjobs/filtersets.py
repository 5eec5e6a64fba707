"""One filterset for the job lists: the pages and the API filter the same way."""

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from portal.filters import UtcIsoDateTimeFilter

from .models import Job, JobStatus


class StrictBooleanField(forms.NullBooleanField):
    """true or false (1 or 0); absent: no filter. Anything else is bad input, not ignored."""

    widget = forms.TextInput  # NullBooleanSelect would read an unknown value as "no filter"

    def to_python(self, value):
        text = "" if value is None else str(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        if text:
            raise ValidationError(_("Give true or false."), code="invalid")
        return None

    def validate(self, value) -> None:
        pass


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


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
    scheduled = StrictBooleanFilter(
        label=_("Started by a schedule"),
        help_text=_("true: only the jobs a schedule started; false: only the others."),
    )
    created_after = UtcIsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", label=_("Created from"), help_text=_("ISO 8601 time.")
    )
    created_before = UtcIsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", label=_("Created before"), help_text=_("ISO 8601 time.")
    )

    class Meta:
        model = Job
        fields = ["project", "status", "submitter", "scheduled", "created_after", "created_before"]
