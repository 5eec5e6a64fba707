"""Accounting against jobs with known start and end times."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from clusterjobs.models import JobStatus
from portal.quotas import usage
from portal.quotas.periods import parse_window, period_window
from tests.factories import ProjectFactory

from .conftest import make_job


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("period", "moment", "start", "end", "label"),
    [
        ("weekly", at(2026, 11, 26, 12), at(2026, 11, 23), at(2026, 11, 30), "2026-W48"),
        ("weekly", at(2026, 12, 30, 12), at(2026, 12, 28), at(2027, 1, 4), "2026-W53"),
        ("monthly", at(2026, 11, 30, 23, 59), at(2026, 11, 1), at(2026, 12, 1), "2026-11"),
        ("monthly", at(2026, 12, 5), at(2026, 12, 1), at(2027, 1, 1), "2026-12"),
        ("quarterly", at(2026, 11, 26), at(2026, 10, 1), at(2027, 1, 1), "2026-Q4"),
        ("quarterly", at(2026, 2, 28), at(2026, 1, 1), at(2026, 4, 1), "2026-Q1"),
        ("yearly", at(2026, 6, 1), at(2026, 1, 1), at(2027, 1, 1), "2026"),
    ],
)
def test_period_windows(settings, period, moment, start, end, label):
    settings.TIME_ZONE = "UTC"
    window = period_window(period, moment)
    assert (window.start, window.end, window.label) == (start, end, label)
    assert window.contains(moment)


def test_period_in_the_portal_time_zone(settings):
    settings.TIME_ZONE = "Europe/Madrid"
    window = period_window("monthly", at(2026, 10, 31, 23, 30))  # already 1 November in Madrid
    assert window.label == "2026-11"
    assert window.start == at(2026, 10, 31, 23)  # midnight in Madrid, UTC+1


def test_parse_window(settings):
    settings.TIME_ZONE = "UTC"
    assert parse_window("2026-02", "monthly").start == at(2026, 2, 1)
    assert parse_window("2026-Q3", "monthly").end == at(2026, 10, 1)
    assert parse_window("2026-W01", "monthly").start == at(2025, 12, 29)
    assert parse_window("2025", "monthly").end == at(2026, 1, 1)
    assert parse_window("2026-05-17", "quarterly").label == "2026-Q2"
    for bad in ("2026-13", "yesterday", "2026-Q5", "2026-02-30"):
        with pytest.raises(ValueError, match="YYYY-MM"):
            parse_window(bad, "monthly")


@pytest.mark.django_db
def test_usage_per_job_member_and_project_split_at_the_period_boundary(personas, settings):
    settings.TIME_ZONE = "UTC"
    project, alice, bob = personas.project, personas.alice, personas.bob
    now = at(2026, 11, 26, 12)
    # 2 GPUs, 4 cores, 8 GiB from 30 Oct 22:00 to 1 Nov 02:00: 2 h in October, 2 h in November.
    crossing = make_job(
        project,
        alice,
        status=JobStatus.SUCCEEDED,
        gpus=2,
        cpu="4",
        memory_mib=8192,
        started_at=at(2026, 10, 31, 22),
        finished_at=at(2026, 11, 1, 2),
    )
    # 1 GPU, 0.5 core for 3 h in November.
    make_job(
        project,
        bob,
        status=JobStatus.FAILED,
        gpus=1,
        cpu="0.5",
        memory_mib=1024,
        started_at=at(2026, 11, 10, 9),
        finished_at=at(2026, 11, 10, 12),
    )
    # Still running since 10:00 on the 26th: counts up to now (2 h).
    make_job(
        project,
        bob,
        status=JobStatus.RUNNING,
        gpus=1,
        cpu="2",
        memory_mib=2048,
        started_at=at(2026, 11, 26, 10),
    )
    # Never started: counts nothing.
    make_job(project, bob, status=JobStatus.CANCELLED, gpus=8, cpu="8")
    # Another project's job: not ours.
    make_job(
        ProjectFactory(),
        alice,
        status=JobStatus.SUCCEEDED,
        gpus=4,
        started_at=at(2026, 11, 2),
        finished_at=at(2026, 11, 3),
    )

    november = period_window("monthly", now)
    october = period_window("monthly", at(2026, 10, 15))
    total = usage.project_usage(project.pk, november, now)
    assert total.gpu_hours == Decimal("4.00") + Decimal("3.00") + Decimal("2.00")
    assert total.cpu_hours == Decimal("8.00") + Decimal("1.50") + Decimal("4.00")
    assert total.memory_gib_hours == Decimal("16.00") + Decimal("3.00") + Decimal("4.00")
    assert total.jobs == 3

    before = usage.project_usage(project.pk, october, now)
    assert (before.gpu_hours, before.cpu_hours, before.memory_gib_hours, before.jobs) == (
        Decimal("4.00"),
        Decimal("8.00"),
        Decimal("16.00"),
        1,
    )
    assert usage.job_usage(crossing, november).gpu_hours == Decimal("4.00")
    assert usage.job_usage(crossing).gpu_hours == Decimal("8.00")

    members = {row["username"]: row["usage"] for row in usage.member_usage(project.pk, november, now)}
    assert members["alice"].gpu_hours == Decimal("4.00")
    assert members["bob"].gpu_hours == Decimal("5.00")
    assert members["bob"].cpu_hours == Decimal("5.50")

    series = usage.daily_series(project.pk, november, now)
    assert len(series["labels"]) == 30
    assert series["gpu_hours"][0] == 4.0  # 1 November: the crossing job's last 2 hours
    assert series["gpu_hours"][9] == 3.0
    assert series["gpu_hours"][25] == 2.0
    assert series["gpu_hours_cumulative"][-1] == 9.0

    many = usage.projects_usage([project.pk], november, now)
    assert many[project.pk].gpu_hours == total.gpu_hours
