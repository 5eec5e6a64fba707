"""Quota pages per persona: owners ask, site admins change and decide, members see, outsiders
see nothing. Plus the preview fragment and the CSV export."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from clusterjobs.models import JobStatus
from portal.quotas.models import Quota, QuotaChange, QuotaRequest
from tests.factories import ProjectFactory

from .conftest import make_job, set_quota

pytestmark = pytest.mark.django_db

PAGE = {"owner": "alice", "member": "bob", "viewer": "vera", "outsider": "charlie", "admin": "root"}


@pytest.mark.parametrize(
    ("who", "code"), [("alice", 200), ("bob", 200), ("vera", 200), ("charlie", 404), ("root", 200)]
)
def test_quota_page_and_project_section(personas, who, code):
    make_job(
        personas.project,
        personas.bob,
        status=JobStatus.RUNNING,
        gpus=1,
        started_at=timezone.now() - timedelta(hours=2),
    )
    client = personas.client(who)
    response = client.get(reverse("quotas:project", args=["genomics"]))
    assert response.status_code == code
    detail = client.get(reverse("projects:detail", args=["genomics"]))
    assert detail.status_code == code
    if code == 200:
        body = detail.content.decode()
        assert 'id="quota-gpus"' in body and "<progress" in body and 'id="quota-link"' in body
        page = response.content.decode()
        assert "usage-series" in page and "chart.umd.min.js" in page
        assert ("quota-form" in page) == (who == "root")
        assert ("request-form" in page) == (who in ("alice", "root"))


def test_anonymous_is_sent_to_log_in(personas):
    assert personas.client(None).get(reverse("quotas:project", args=["genomics"])).status_code == 302


@pytest.mark.parametrize(("who", "code"), [("alice", 403), ("bob", 403), ("vera", 403), ("charlie", 404)])
def test_only_site_admins_change_quotas_on_the_page(personas, who, code):
    data = {**Quota.objects.get(project=personas.project).limits(), "max_gpus": 9, "reason": "x"}
    response = personas.client(who).post(reverse("quotas:edit", args=["genomics"]), data)
    assert response.status_code == code
    assert Quota.objects.get(project=personas.project).max_gpus == 1


def test_site_admin_changes_a_quota_and_sees_messages_for_bad_values(personas):
    client = personas.client("root")
    data = {**Quota.objects.get(project=personas.project).limits(), "max_gpus": -3, "reason": "typo"}
    response = client.post(reverse("quotas:edit", args=["genomics"]), data)
    assert response.status_code == 400
    assert (
        "greater than or equal to 0" in response.content.decode() or "negative" in response.content.decode()
    )
    data.update(max_gpus=4)
    response = client.post(reverse("quotas:edit", args=["genomics"]), data, follow=True)
    assert response.status_code == 200
    assert Quota.objects.get(project=personas.project).max_gpus == 4
    assert "typo" in response.content.decode()  # the history shows why


def test_saving_the_quota_form_unchanged_says_so_and_records_nothing(personas):
    data = {**Quota.objects.get(project=personas.project).limits(), "reason": "looked at it"}
    response = personas.client("root").post(reverse("quotas:edit", args=["genomics"]), data, follow=True)
    assert response.status_code == 200
    assert "No value changed." in response.content.decode()
    assert not QuotaChange.objects.filter(project=personas.project).exists()


@pytest.mark.parametrize(("who", "code"), [("bob", 403), ("vera", 403), ("charlie", 404)])
def test_non_owners_cannot_request(personas, who, code):
    response = personas.client(who).post(
        reverse("quotas:request", args=["genomics"]), {"max_gpus": 4, "reason": "x"}
    )
    assert response.status_code == code
    assert not QuotaRequest.objects.exists()


def test_request_and_decision_seen_by_both_sides(personas):
    alice, root = personas.client("alice"), personas.client("root")
    response = alice.post(reverse("quotas:request", args=["genomics"]), {"max_gpus": "", "reason": "x"})
    assert response.status_code == 400 and "which part" in response.content.decode()
    alice.post(reverse("quotas:request", args=["genomics"]), {"max_gpus": 4, "reason": "deadline"})
    request = QuotaRequest.objects.get()
    assert (
        personas.client("alice").post(reverse("quotas:approve", args=["genomics", request.pk])).status_code
        == 403
    )
    root.post(reverse("quotas:approve", args=["genomics", request.pk]), {"reason": "ok"})
    assert Quota.objects.get(project=personas.project).max_gpus == 4
    page = alice.get(reverse("quotas:project", args=["genomics"])).content.decode()
    assert "deadline" in page and "approved" in page and "ok" in page
    assert QuotaChange.objects.get().request == request


def test_member_cap_form(personas):
    alice = personas.client("alice")
    response = alice.post(reverse("quotas:cap", args=["genomics"]), {"username": "charlie", "max_gpus": 1})
    assert response.status_code == 400 and "No member" in response.content.decode()
    alice.post(reverse("quotas:cap", args=["genomics"]), {"username": "bob", "max_gpus": 1})
    assert personas.bob.memberships.get().quota_cap.max_gpus == 1
    assert (
        personas.client("bob").post(reverse("quotas:cap", args=["genomics"]), {"username": "bob"}).status_code
        == 403
    )


@pytest.mark.parametrize(("who", "code"), [("alice", 200), ("bob", 200), ("vera", 403), ("charlie", 404)])
def test_preview_permissions(personas, who, code):
    url = reverse("quotas:preview", args=["genomics"])
    response = personas.client(who).get(
        url, {"cpu": 1, "memory_mib": 512, "gpus": 0, "time_limit_minutes": 30}
    )
    assert response.status_code == code


def test_preview_fragment_says_starts_waits_or_rejected(personas):
    set_quota(personas.project, max_gpus=2, gpu_hours_per_period=Decimal(10))
    client = personas.client("bob")
    url = reverse("quotas:preview", args=["genomics"])
    headers = {"HX-Request": "true"}
    starts = client.get(
        url, {"cpu": 1, "memory_mib": 512, "gpus": 1, "time_limit_minutes": 120}, headers=headers
    )
    body = starts.content.decode()
    assert 'data-outcome="starts"' in body and "2.00 GPU-hours" in body and "<html" not in body
    make_job(personas.project, personas.bob, status=JobStatus.RUNNING, gpus=2, started_at=timezone.now())
    waits = client.get(
        url, {"cpu": 1, "memory_mib": 512, "gpus": 1, "time_limit_minutes": 60}, headers=headers
    )
    assert 'data-outcome="waits"' in waits.content.decode()
    rejected = client.get(
        url, {"cpu": 1, "memory_mib": 512, "gpus": 1, "time_limit_minutes": 6000}, headers=headers
    )
    assert 'data-outcome="rejected"' in rejected.content.decode()
    bad = client.get(
        url, {"cpu": "x", "memory_mib": 512, "gpus": -1, "time_limit_minutes": 60}, headers=headers
    )
    assert bad.status_code == 200 and 'role="alert"' in bad.content.decode()
    full = client.get(url, {"cpu": 1, "memory_mib": 512, "gpus": 0, "time_limit_minutes": 60})
    assert "<html" in full.content.decode()


@pytest.mark.parametrize(("who", "code"), [("alice", 403), ("bob", 403), ("charlie", 403), ("root", 200)])
def test_overview_and_export_are_for_site_admins(personas, who, code):
    assert personas.client(who).get(reverse("quotas:overview")).status_code == code
    assert personas.client(who).get(reverse("quotas:export"), {"period": "2026-11"}).status_code == code


def test_overview_queries_do_not_grow_with_projects(personas):
    client = personas.client("root")
    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse("quotas:overview")).status_code == 200
    for i in range(30):
        project = ProjectFactory(slug=f"p{i}")
        make_job(
            project,
            personas.bob,
            status=JobStatus.SUCCEEDED,
            gpus=1,
            started_at=timezone.now() - timedelta(hours=2),
            finished_at=timezone.now() - timedelta(hours=1),
        )
    with CaptureQueriesContext(connection) as many:
        response = client.get(reverse("quotas:overview"))
    assert response.status_code == 200 and "overview-series" in response.content.decode()
    assert len(many) == len(few)


def test_csv_export_per_period(personas):
    # Last month, so the whole job lies in the past whatever today's date.
    started = (timezone.localtime().replace(day=1) - timedelta(days=20)).replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    make_job(
        personas.project,
        personas.bob,
        status=JobStatus.SUCCEEDED,
        gpus=2,
        cpu="4",
        started_at=started,
        finished_at=started + timedelta(hours=3),
    )
    period = timezone.localtime(started).strftime("%Y-%m")
    response = personas.client("root").get(reverse("quotas:export"), {"period": period})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    genomics = next(row for row in rows if row["project"] == "genomics")
    assert (genomics["gpu_hours"], genomics["cpu_hours"], genomics["jobs"], genomics["period"]) == (
        "6.00",
        "12.00",
        "1",
        period,
    )
    bad = personas.client("root").get(reverse("quotas:export"), {"period": "last year"})
    assert bad.status_code == 400 and "YYYY-MM" in bad.content.decode()


def test_django_admin_change_is_validated_and_recorded(personas):
    quota = Quota.objects.get(project=personas.project)
    url = reverse("admin:quotas_quota_change", args=[quota.pk])
    client = personas.client("root")
    assert client.get(url).status_code == 200
    data = {**quota.limits(), "max_gpus": 5000, "reason": "typo"}
    response = client.post(url, data)
    assert response.status_code == 200 and "more than any project may have" in response.content.decode()
    response = client.post(url, {**data, "max_gpus": 3, "reason": "grant 42"})
    assert response.status_code == 302
    change = QuotaChange.objects.get()
    assert (change.actor, change.reason, change.new_values["max_gpus"]) == (personas.root, "grant 42", 3)
    assert personas.client("alice").get(url).status_code == 302  # not staff: sent to the admin login


def test_preview_of_an_inactive_project_says_rejected(personas):
    from portal.projects.models import Project

    Project.objects.filter(pk=personas.project.pk).update(status=Project.Status.ARCHIVED)
    url = reverse("quotas:preview", args=["genomics"])
    response = personas.client("bob").get(
        url, {"cpu": 1, "memory_mib": 1, "gpus": 0, "time_limit_minutes": 1}
    )
    assert (
        'data-outcome="rejected"' in response.content.decode()
        and "active project" in response.content.decode()
    )


def test_a_date_picker_chooses_the_period_around_a_day(personas):
    client = personas.client("root")
    page = client.get(reverse("quotas:overview"), {"period": "2026-03-17"}).content.decode()
    assert 'type="date" name="period" value="2026-03-01"' in page
    assert "Period 2026-03" in page
    project_page = personas.client("alice").get(reverse("quotas:project", args=["genomics"])).content.decode()
    assert 'type="date" name="period"' in project_page
