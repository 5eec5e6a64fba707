"""The quota, usage and quota-request API per persona."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from clusterjobs.models import JobStatus
from portal.accounts.actions import create_token
from portal.projects.models import AuditEvent
from portal.quotas.models import Quota, QuotaChange, QuotaRequest
from tests.factories import ProjectFactory

from .conftest import make_job

# Use backdated by hours counts in the current budget period (see mid_period).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mid_period")]
QUOTA = "/api/v1/projects/genomics/quota/"


def api(personas, who) -> APIClient:
    client = APIClient()
    if who:
        client.force_authenticate(getattr(personas, who))
    return client


@pytest.mark.parametrize(
    ("who", "code"),
    [("alice", 200), ("bob", 200), ("vera", 200), ("charlie", 404), ("root", 200), (None, 401)],
)
def test_get_quota(personas, who, code):
    make_job(
        personas.project,
        personas.bob,
        status=JobStatus.RUNNING,
        gpus=1,
        cpu="2.5",
        memory_mib=4096,
        started_at=timezone.now() - timedelta(hours=1),
    )
    make_job(personas.project, personas.bob, gpus=1, time_limit_minutes=120)
    response = api(personas, who).get(QUOTA)
    assert response.status_code in (code, 403 if code == 401 else code)
    if code == 200:
        data = response.json()
        for name in (
            "max_gpus",
            "max_cpu",
            "max_memory_mib",
            "max_running_jobs",
            "max_time_limit_minutes",
            "gpu_hours_per_period",
            "cpu_hours_per_period",
            "period",
        ):
            assert name in data
        assert (data["used_gpus"], data["used_cpu"], data["used_memory_mib"], data["running_jobs"]) == (
            1,
            "2.500",
            4096,
            1,
        )
        assert data["queued_jobs"] == 1
        assert Decimal(data["gpu_hours_used"]) == Decimal("1.00")
        assert Decimal(data["gpu_hours_reserved"]) == Decimal("2.00")


@pytest.mark.parametrize(
    ("who", "code"), [("alice", 403), ("bob", 403), ("vera", 403), ("charlie", 404), ("root", 200)]
)
def test_only_site_admins_patch(personas, who, code):
    response = api(personas, who).patch(QUOTA, {"max_gpus": 8, "reason": "grant"}, format="json")
    assert response.status_code == code
    assert Quota.objects.get(project=personas.project).max_gpus == (8 if code == 200 else 1)
    if code == 200:
        assert response.json()["max_gpus"] == 8


def test_patch_bad_input_is_400_per_field(personas):
    client = api(personas, "root")
    response = client.patch(QUOTA, {"max_gpus": -1, "max_cpu": 10**9, "reason": "x"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) >= {"max_gpus", "max_cpu"}
    assert client.patch(QUOTA, {"max_gpus": 2}, format="json").json().keys() == {"reason"}
    assert "colour" in client.patch(QUOTA, {"colour": 2, "reason": "x"}, format="json").json()
    assert client.patch(QUOTA, {"reason": "x"}, format="json").status_code == 400
    assert Quota.objects.get(project=personas.project).max_gpus == 1


def test_unchanged_patch_is_200_and_records_nothing(personas):
    """A script that sends the quota it wants, when the project has it already: nothing to do."""
    client = api(personas, "root")
    assert client.patch(QUOTA, {"max_gpus": 3, "reason": "grant"}, format="json").status_code == 200
    changes = QuotaChange.objects.filter(project=personas.project).count()
    events = AuditEvent.objects.filter(project=personas.project).count()
    updated_at = Quota.objects.get(project=personas.project).updated_at
    current = {name: client.get(QUOTA).json()[name] for name in ("max_gpus", "max_cpu", "period")}
    response = client.patch(QUOTA, {**current, "reason": "again"}, format="json")
    assert response.status_code == 200
    assert response.json()["max_gpus"] == 3
    assert QuotaChange.objects.filter(project=personas.project).count() == changes
    assert AuditEvent.objects.filter(project=personas.project).count() == events
    assert Quota.objects.get(project=personas.project).updated_at == updated_at


def test_a_job_token_sees_no_quota(personas):
    other = ProjectFactory(slug="other")
    _token, key = create_token(personas.root, "job", project=other)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(QUOTA).status_code == 403
    assert client.get("/api/v1/projects/other/quota/").status_code == 403


@pytest.mark.parametrize(
    ("who", "code"), [("alice", 200), ("bob", 200), ("vera", 200), ("charlie", 404), ("root", 200)]
)
def test_usage_per_member_and_total(personas, who, code):
    start = timezone.localtime().replace(day=1, hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=10
    )
    make_job(
        personas.project,
        personas.bob,
        status=JobStatus.SUCCEEDED,
        gpus=2,
        started_at=start,
        finished_at=start + timedelta(hours=5),
    )
    make_job(
        personas.project,
        personas.alice,
        status=JobStatus.SUCCEEDED,
        gpus=1,
        started_at=start,
        finished_at=start + timedelta(hours=1),
    )
    response = api(personas, who).get("/api/v1/projects/genomics/usage/", {"period": f"{start:%Y-%m}"})
    assert response.status_code == code
    if code == 200:
        data = response.json()
        assert data["period"] == f"{start:%Y-%m}"
        assert data["total"]["gpu_hours"] == "11.00" and data["total"]["jobs"] == 2
        assert [(m["username"], m["gpu_hours"]) for m in data["members"]] == [
            ("bob", "10.00"),
            ("alice", "1.00"),
        ]


def test_usage_bad_period(personas):
    response = api(personas, "bob").get("/api/v1/projects/genomics/usage/", {"period": "2026-13"})
    assert response.status_code == 400 and "period" in response.json()


@pytest.mark.parametrize(
    ("who", "code"), [("alice", 201), ("bob", 403), ("vera", 403), ("charlie", 404), ("root", 201)]
)
def test_create_request(personas, who, code):
    url = "/api/v1/projects/genomics/quota/requests/"
    response = api(personas, who).post(url, {"values": {"max_gpus": 4}, "reason": "paper"}, format="json")
    assert response.status_code == code
    assert QuotaRequest.objects.count() == (1 if code == 201 else 0)


def test_request_list_and_decisions(personas):
    url = "/api/v1/projects/genomics/quota/requests/"
    bad = api(personas, "alice").post(url, {"values": {"max_gpus": "many"}, "reason": "x"}, format="json")
    assert bad.status_code == 400 and "max_gpus" in bad.json()
    created = (
        api(personas, "alice").post(url, {"values": {"max_gpus": 4}, "reason": "paper"}, format="json").json()
    )
    assert api(personas, "vera").get(url).json()["results"][0]["id"] == created["id"]
    assert api(personas, "charlie").get(url).status_code == 404
    approve = f"{url}{created['id']}/approve/"
    assert api(personas, "alice").post(approve, {}, format="json").status_code == 403
    response = api(personas, "root").post(approve, {"reason": "fine"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "approved"
    assert Quota.objects.get(project=personas.project).max_gpus == 4
    again = api(personas, "root").post(f"{url}{created['id']}/decline/", {"reason": "no"}, format="json")
    assert again.status_code == 400
    changes = api(personas, "bob").get("/api/v1/projects/genomics/quota/changes/").json()["results"]
    assert changes[0]["new_values"]["max_gpus"] == 4 and changes[0]["request"] == created["id"]


def test_a_request_for_values_named_like_the_actions_arguments_is_a_400(personas):
    """Schemathesis sent {"values": {"reason": ...}}: it was a second `reason` argument and a 500."""
    client = api(personas, "alice")
    response = client.post(
        f"{QUOTA}requests/",
        {"values": {"reason": 4, "owner": "x", "project": "\u0000"}, "reason": "a deadline"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json().keys() == {"reason", "owner", "project"}
    assert not QuotaRequest.objects.exists()
