"""Every quota, usage and quota-request endpoint under every persona, with real API tokens.

Anonymous is a 401 and an outsider a 404 everywhere; members and viewers read; owners ask for more
quota; only site admins change a quota or decide on a request (a 403 for everyone else).
"""

import pytest

from portal.quotas.actions import request_quota, update_quota
from portal.quotas.models import Quota, QuotaChange, QuotaRequest
from tests.factories import ProjectFactory

PERSONAS = [None, "alice", "bob", "vera", "charlie", "root"]
READ = {None: 401, "alice": 200, "bob": 200, "vera": 200, "charlie": 404, "root": 200}
ASK = {None: 401, "alice": 201, "bob": 403, "vera": 403, "charlie": 404, "root": 201}
ADMIN = {None: 401, "alice": 403, "bob": 403, "vera": 403, "charlie": 404, "root": 200}
BASE = "/api/v1/projects/genomics"


@pytest.fixture
def quota_request(personas) -> QuotaRequest:
    update_quota(personas.root, personas.project, "a first change", max_gpus=2)
    return request_quota(personas.alice, personas.project, "a paper deadline", max_gpus=4)


@pytest.mark.parametrize("who", PERSONAS)
@pytest.mark.parametrize(
    "path", ["quota/", "quota/changes/", "quota/requests/", "quota/requests/{id}/", "usage/"]
)
def test_reads(api, quota_request, who, path):
    response = api(who).get(f"{BASE}/{path.format(id=quota_request.pk)}")
    assert response.status_code == READ[who], response.content
    body = response.json()
    if READ[who] != 200:
        assert body["detail"]
    elif path == "quota/requests/":
        assert [row["id"] for row in body["results"]] == [quota_request.pk]
    elif path == "quota/requests/{id}/":
        assert body["status"] == "pending" and body["decided_by"] is None
    elif path == "quota/changes/":
        assert body["results"][0]["new_values"]["max_gpus"] == 2
    else:
        assert body["project"] == "genomics"


@pytest.mark.parametrize("who", PERSONAS)
def test_change_the_quota(api, personas, who):
    response = api(who).patch(f"{BASE}/quota/", {"max_gpus": 6, "reason": "a grant"})
    assert response.status_code == ADMIN[who], response.content
    changed = ADMIN[who] == 200
    assert Quota.objects.get(project=personas.project).max_gpus == (6 if changed else 1)
    assert QuotaChange.objects.filter(project=personas.project).count() == (1 if changed else 0)


@pytest.mark.parametrize("who", PERSONAS)
def test_ask_for_more(api, personas, who):
    response = api(who).post(f"{BASE}/quota/requests/", {"values": {"max_gpus": 4}, "reason": "paper"})
    assert response.status_code == ASK[who], response.content
    assert QuotaRequest.objects.count() == (1 if ASK[who] == 201 else 0)


@pytest.mark.parametrize("who", PERSONAS)
@pytest.mark.parametrize("decision", ["approve", "decline"])
def test_decide(api, personas, quota_request, who, decision):
    url = f"{BASE}/quota/requests/{quota_request.pk}/{decision}/"
    response = api(who).post(url, {"reason": "considered"})
    assert response.status_code == ADMIN[who], response.content
    quota_request.refresh_from_db()
    expected = {"approve": "approved", "decline": "declined"}[decision] if ADMIN[who] == 200 else "pending"
    assert quota_request.status == expected
    max_gpus = Quota.objects.get(project=personas.project).max_gpus
    assert max_gpus == (4 if expected == "approved" else 2)


def test_a_request_is_reached_only_through_its_project(api, personas, quota_request):
    other = ProjectFactory(slug="other")
    foreign = request_quota(personas.root, other, "elsewhere", max_gpus=3)
    root = api("root")
    assert root.get(f"{BASE}/quota/requests/{foreign.pk}/").status_code == 404
    assert root.post(f"{BASE}/quota/requests/{foreign.pk}/approve/", {}).status_code == 404
    scoped = api("root", project=other)  # a job's token, even a site admin's, reaches no quota
    for path in (
        "quota/",
        "usage/",
        "quota/changes/",
        "quota/requests/",
        f"quota/requests/{quota_request.pk}/",
    ):
        assert scoped.get(f"{BASE}/{path}").status_code == 403, path
    assert scoped.patch(f"{BASE}/quota/", {"max_gpus": 9, "reason": "x"}).status_code == 403
    assert scoped.post(f"{BASE}/quota/requests/{quota_request.pk}/approve/", {}).status_code == 403
    foreign.refresh_from_db()
    quota_request.refresh_from_db()
    assert foreign.status == quota_request.status == "pending"
