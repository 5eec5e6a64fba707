"""Periods and the sums of use over them, for any queryset of jobs.

This module knows the job fields (``started_at``, ``finished_at``, ``gpus``, ``cpu``,
``memory_mib``) but imports no job model: admission (``admission/``) and accounting
(``usage.py``) share one definition of what a period and an hour of use are.
"""

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import F, FloatField, Func, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, Greatest, Least
from django.utils import timezone
from django.utils.translation import gettext as _

HOURS = Decimal("0.01")
MIB_PER_GIB = 1024


class Seconds(Func):
    """The seconds between two datetimes (``end - start``), as a float, on PostgreSQL and SQLite."""

    arg_joiner = " - "
    template = "EXTRACT(EPOCH FROM (%(expressions)s))"
    output_field = FloatField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(
            compiler,
            connection,
            template="((julianday(%(expressions)s)) * 86400.0)",
            arg_joiner=") - julianday(",
            **extra_context,
        )


@dataclass(frozen=True)
class Window:
    """A half-open time range [start, end) with a label for people."""

    start: datetime
    end: datetime
    label: str

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    @property
    def hours(self) -> Decimal:
        return Decimal((self.end - self.start).total_seconds()) / 3600


def local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day))


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def period_window(period: str, at: datetime | None = None) -> Window:
    """The weekly (from Monday), monthly, quarterly or yearly period that contains ``at``
    (now by default), in the portal's time zone."""
    day = timezone.localtime(at or timezone.now()).date()
    if period == "weekly":
        first = day - timedelta(days=day.weekday())
        last = first + timedelta(days=7)
        year, week, _weekday = first.isocalendar()
        label = f"{year}-W{week:02d}"
    elif period == "monthly":
        first = day.replace(day=1)
        last = _add_months(first, 1)
        label = f"{first:%Y-%m}"
    elif period == "quarterly":
        first = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
        last = _add_months(first, 3)
        label = f"{first.year}-Q{(first.month - 1) // 3 + 1}"
    elif period == "yearly":
        first = date(day.year, 1, 1)
        last = date(day.year + 1, 1, 1)
        label = f"{first.year}"
    else:
        raise ValueError(f"unknown period {period!r}")
    return Window(local_midnight(first), local_midnight(last), label)


def previous_window(period: str, window: Window) -> Window:
    return period_window(period, window.start - timedelta(seconds=1))


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$", re.IGNORECASE)
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$", re.IGNORECASE)
_YEAR = re.compile(r"^(\d{4})$")


def parse_window(value: str, default_period: str) -> Window:
    """A window from what a person or a script writes: ``2026-11`` (that month), ``2026-Q4``,
    ``2026-W47``, ``2026`` (that year), or a date ``2026-11-15`` (the quota's period around it).
    Raises ValueError with a readable message."""
    value = (value or "").strip()
    try:
        if not value:
            return period_window(default_period)
        if match := _MONTH.match(value):
            year, month = int(match[1]), int(match[2])
            return period_window("monthly", local_midnight(date(year, month, 1)))
        if match := _QUARTER.match(value):
            year, quarter = int(match[1]), int(match[2])
            return period_window("quarterly", local_midnight(date(year, 3 * quarter - 2, 1)))
        if match := _WEEK.match(value):
            monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
            return period_window("weekly", local_midnight(monday))
        if match := _YEAR.match(value):
            return period_window("yearly", local_midnight(date(int(match[1]), 1, 1)))
        return period_window(default_period, local_midnight(date.fromisoformat(value)))
    except ValueError:
        raise ValueError(
            _("Give a period as YYYY-MM, YYYY-Qn, YYYY-Www, YYYY or a date YYYY-MM-DD, not “%(value)s”.")
            % {"value": value}
        ) from None


# --- sums ------------------------------------------------------------------------------------


@dataclass
class Usage:
    gpu_hours: Decimal = Decimal(0)
    cpu_hours: Decimal = Decimal(0)
    memory_gib_hours: Decimal = Decimal(0)
    jobs: int = 0
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "gpu_hours": str(self.gpu_hours),
            "cpu_hours": str(self.cpu_hours),
            "memory_gib_hours": str(self.memory_gib_hours),
            "jobs": self.jobs,
        }


def hours(value: float | None) -> Decimal:
    return Decimal(str(value or 0)).quantize(HOURS, rounding=ROUND_HALF_UP)


def _run_seconds(window: Window, now: datetime):
    """Per job: the seconds it ran inside the window (running jobs up to now)."""
    end = Least(Coalesce(F("finished_at"), Value(now)), Value(window.end))
    return Greatest(Seconds(end, Greatest(F("started_at"), Value(window.start))), Value(0.0))


def ran_within(jobs: QuerySet, window: Window, now: datetime | None = None) -> QuerySet:
    """The jobs that ran for some time inside the window, annotated with ``run_seconds``."""
    now = now or timezone.now()
    return jobs.filter(
        Q(finished_at__isnull=True) | Q(finished_at__gt=window.start),
        started_at__isnull=False,
        started_at__lt=min(window.end, now),
    ).annotate(run_seconds=_run_seconds(window, now))


# What other workloads than jobs used (a deployment's replicas over time): functions of a list of
# project ids (None: every project) answering a queryset of rows shaped as jobs are for these sums
# (``started_at``, ``finished_at``, ``gpus``, ``cpu``, ``memory_mib``, ``project_id``,
# ``submitter``), added by the apps that own them (``add_usage_source``), so that the usage figures
# and the period budgets count them with the jobs: one more query per source, whatever their number.
_usage_sources: list = []


def add_usage_source(source) -> None:
    if source not in _usage_sources:
        _usage_sources.append(source)


def other_uses(project_ids: list[int] | None) -> list[QuerySet]:
    return [source(project_ids) for source in _usage_sources]


def sums() -> dict:
    return {
        "gpu_seconds": Sum(F("run_seconds") * F("gpus"), output_field=FloatField()),
        "cpu_seconds": Sum(F("run_seconds") * F("cpu"), output_field=FloatField()),
        "mib_seconds": Sum(F("run_seconds") * F("memory_mib"), output_field=FloatField()),
    }


SECONDS = ("gpu_seconds", "cpu_seconds", "mib_seconds")


def add_rows(row: dict, other: dict) -> dict:
    """``row`` with the seconds of another sum (``sums()``) added (its other keys kept)."""
    return {**row, **{key: (row.get(key) or 0) + (other.get(key) or 0) for key in SECONDS}}


def to_usage(row: dict) -> Usage:
    return Usage(
        gpu_hours=hours((row["gpu_seconds"] or 0) / 3600),
        cpu_hours=hours((row["cpu_seconds"] or 0) / 3600),
        memory_gib_hours=hours((row["mib_seconds"] or 0) / 3600 / MIB_PER_GIB),
        jobs=row.get("jobs") or 0,
    )


def reserved_hours(not_started: QuerySet) -> tuple[Decimal, Decimal]:
    """(GPU-hours, CPU-hours) that jobs which have not started may still use at most: their
    resources for their whole time limit."""
    row = not_started.aggregate(
        gpu_minutes=Sum(F("gpus") * F("time_limit_minutes"), output_field=FloatField()),
        cpu_minutes=Sum(F("cpu") * F("time_limit_minutes"), output_field=FloatField()),
    )
    return hours((row["gpu_minutes"] or 0) / 60), hours((row["cpu_minutes"] or 0) / 60)
