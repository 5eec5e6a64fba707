"""What the pages do, over the API: archive a project, approve it with its quota, member caps,
the quota preview, and the site admins' usage overview and CSV. Every persona, real tokens."""

import csv
import io

import pytest

from portal.projects.models import Project
from portal.quotas.models import MemberCap, Quota, QuotaChange
from tests.factories import ProjectFactory

PERSONAS = [None, "alice", "bob", "vera", "charlie", "root"]
MANAGE = {None: 401, "alice": 200, "bob": 403, "vera": 403, "charlie": 404, "root": 200}
READ = {None: 401, "alice": 200, "bob": 200, "vera": 200, "charlie": 404, "root": 200}
SUBMIT = {None: 401, "alice": 200, "bob": 200, "vera": 403, "charlie": 404, "root": 200}
SITE_ADMIN = {None: 401, "alice": 403, "bob": 403, "vera": 403, "charlie": 403, "root": 200}
BASE = "/api/v1/projects/genomics"


@pytest.mark.parametrize("who", PERSONAS)
def test_archive(api, personas, who):
    response = api(who).post(f"{BASE}/archive/")
    assert response.status_code == MANAGE[who], response.content
    archived = MANAGE[who] == 200
    assert Project.objects.get(pk=personas.project.pk).status == ("archived" if archived else "active")
    if archived:
        assert response.json()["status"] == "archived"
        again = api(who).post(f"{BASE}/archive/")
        assert again.status_code == 400 and again.json() == {
            "non_field_errors": ["The project is already archived."]
        }


@pytest.fixture
def pending(personas):
    return ProjectFactory(
        slug="astro", name="Astro", status=Project.Status.PENDING, requested_by=personas.alice
    )


@pytest.mark.parametrize("who", PERSONAS)
def test_approve_with_a_quota(api, personas, pending, who):
    body = {"reason": "welcome", "quota": {"max_gpus": 3, "gpu_hours_per_period": "40.5"}}
    response = api(who).post("/api/v1/projects/astro/approve/", body)
    expected = {None: 401, "root": 200}.get(who, 404)  # nobody else is a member of astro
    assert response.status_code == expected, response.content
    pending.refresh_from_db()
    if expected == 200:
        quota = Quota.objects.get(project=pending)
        assert (
            pending.status == "active" and quota.max_gpus == 3 and str(quota.gpu_hours_per_period) == "40.50"
        )
        assert QuotaChange.objects.get(project=pending).reason == "welcome"
    else:
        assert pending.status == "pending"


def test_a_refused_quota_leaves_the_project_pending(api, pending):
    response = api("root").post("/api/v1/projects/astro/approve/", {"quota": {"max_gpus": -1}})
    assert response.status_code == 400
    assert "max_gpus" in response.json()
    pending.refresh_from_db()
    assert pending.status == "pending" and not QuotaChange.objects.filter(project=pending).exists()
    unknown = api("root").post("/api/v1/projects/astro/approve/", {"quota": {"max_gpu": 1}})
    assert unknown.status_code == 400 and "max_gpu" in unknown.json()["quota"]


@pytest.mark.parametrize("who", PERSONAS)
def test_read_member_caps(api, personas, who):
    MemberCap.objects.create(membership=personas.project.memberships.get(user=personas.bob), max_gpus=1)
    response = api(who).get(f"{BASE}/quota/caps/")
    assert response.status_code == READ[who], response.content
    if READ[who] == 200:
        rows = {row["username"]: row for row in response.json()["results"]}
        assert list(rows) == ["alice", "bob", "vera"]
        assert rows["bob"]["max_gpus"] == 1 and rows["alice"]["max_gpus"] is None
        assert api(who).get(f"{BASE}/quota/caps/bob/").json()["max_gpus"] == 1


@pytest.mark.parametrize("who", PERSONAS)
def test_set_and_remove_a_member_cap(api, personas, who):
    response = api(who).put(
        f"{BASE}/quota/caps/bob/", {"max_gpus": 2, "max_running_jobs": 1}, content_type="application/json"
    )
    assert response.status_code == MANAGE[who], response.content
    if MANAGE[who] == 200:
        assert response.json() == {"username": "bob", "role": "member", "max_gpus": 2, "max_running_jobs": 1}
        removed = api(who).put(f"{BASE}/quota/caps/bob/", {}, content_type="application/json")
        assert removed.json()["max_gpus"] is None
    assert not MemberCap.objects.exists() or MANAGE[who] != 200


def test_bad_caps_are_400_per_field(api, personas):
    client = api("alice")
    for body, field in (
        ({"max_gpus": -1}, "max_gpus"),
        ({"max_running_jobs": "x"}, "max_running_jobs"),
        ({"cpu": 2}, "cpu"),
    ):
        response = client.put(f"{BASE}/quota/caps/bob/", body, content_type="application/json")
        assert response.status_code == 400
        assert list(response.json()) == [field]
    assert client.put(f"{BASE}/quota/caps/ghost/", {}, content_type="application/json").status_code == 404
    assert not MemberCap.objects.exists()


@pytest.mark.parametrize("who", PERSONAS)
def test_quota_preview(api, personas, who):
    query = "cpu=1&memory_mib=1024&gpus=0&time_limit_minutes=60"
    response = api(who).get(f"{BASE}/quota/preview/?{query}")
    assert response.status_code == SUBMIT[who], response.content
    if SUBMIT[who] == 200:
        body = response.json()
        assert body["outcome"] == "starts" and body["cpu_hours"] == "1.00" and body["errors"] == {}
        too_big = api(who).get(f"{BASE}/quota/preview/?cpu=1&memory_mib=1024&gpus=99&time_limit_minutes=60")
        assert too_big.json()["outcome"] == "rejected" and "gpus" in too_big.json()["errors"]


def test_bad_preview_queries_are_400_per_field(api, personas):
    response = api("bob").get(f"{BASE}/quota/preview/?cpu=lots&gpus=-1&time_limit_minutes=60")
    assert response.status_code == 400
    assert set(response.json()) == {"cpu", "memory_mib", "gpus"}
    unknown = api("bob").get(f"{BASE}/quota/preview/?cpu=1&memory_mib=1&time_limit_minutes=60&color=red")
    assert unknown.status_code == 400 and list(unknown.json()) == ["color"]


@pytest.mark.parametrize("who", PERSONAS)
def test_usage_overview_and_csv_are_for_site_admins(api, personas, who):
    ProjectFactory(slug="physics", name="Physics")
    response = api(who).get("/api/v1/usage/?period=2026-11")
    assert response.status_code == SITE_ADMIN[who], response.content
    export = api(who).get("/api/v1/usage/export.csv?period=2026-11")
    assert export.status_code == SITE_ADMIN[who]
    if SITE_ADMIN[who] == 200:
        body = response.json()
        assert body["period"] == "2026-11" and body["count"] == 2
        assert [row["project"] for row in body["results"]] == ["genomics", "physics"]
        rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
        assert [row["project"] for row in rows] == ["genomics", "physics"]
        assert export["Content-Type"].startswith("text/csv")


def test_usage_overview_refuses_a_bad_period(api, personas):
    response = api("root").get("/api/v1/usage/?period=someday")
    assert response.status_code == 400 and list(response.json()) == ["period"]
    assert api("root").get("/api/v1/usage/export.csv?period=someday").status_code == 400
