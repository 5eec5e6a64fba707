"""Filter pieces every app's filtersets share (django-filter)."""

import functools
from datetime import UTC

import django_filters
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 time, compared in UTC: PostgreSQL refuses offsets beyond +/-15:59 (+17:48 is
    valid ISO 8601), and a time that leaves the calendar in UTC is bad input, not a 500."""

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None or parsed.tzinfo is None:
            return parsed
        try:
            return parsed.astimezone(UTC)
        except OverflowError as error:
            raise ValidationError(_("This time is out of range."), code="invalid") from error


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend, which builds the view's filterset, copies its filters and cleans its
    form on every request: a list asked for no filter (most calls) skips that and is the view's
    queryset unfiltered, which is what the filterset gives when none of its parameters is in
    the query (a filter given no value filters nothing, django-filter's rule for every filter,
    method filters too). That work was a tenth of GET /api/v1/jobs/ (bench/bench_jobs_api.py).

    A parameter counts as given when its name starts with a filter's name, so that the parts of a
    filter with several inputs (``<name>_min``, ``<name>_after``) still reach the filterset; so does
    any query when a filter is required."""

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None:
            return queryset
        names = _parameter_names(filterset_class)
        if names is not None and not any(key.startswith(names) for key in request.query_params):
            return queryset
        return super().filter_queryset(request, queryset, view)


@functools.cache
def _parameter_names(filterset_class) -> tuple[str, ...] | None:
    """The names of a filterset's filters, or None when one is required (it must always run)."""
    filters = filterset_class.base_filters
    if any(f.extra.get("required") for f in filters.values()):
        return None
    return tuple(filters)
