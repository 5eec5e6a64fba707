"""The deployments API and pages: who may see, create and change (owner, member, viewer,
outsider, site admin, anonymous), and what bad input answers."""

import pytest

from deployments.models import Deployment, DeploymentStatus
from tests.api.conftest import TokenClient

pytestmark = pytest.mark.django_db

CHANGE = {"alice": 200, "bob": 200, "root": 200, "vera": 403, "charlie": 404, None: 401}
SEE = {"alice": 200, "bob": 200, "root": 200, "vera": 200, "charlie": 404, None: 401}


@pytest.fixture
def deployment(personas) -> Deployment:
    """A deployment as the serving side leaves it running (no model server needed to read it)."""
    return Deployment.objects.create(
        project=personas.project,
        name="digits",
        model_name="genomics.digits",
        version="2",
        serving_version="2",
        previous_version="1",
        status=DeploymentStatus.RUNNING,
        backend="local",
        created_by=personas.bob,
    )


@pytest.mark.parametrize("who", list(SEE))
def test_show_and_list(api, deployment, who):
    client = api(who)
    answer = client.get(f"/api/v1/deployments/{deployment.pk}/")
    assert answer.status_code == SEE[who]
    listed = client.get("/api/v1/deployments/", {"project": "genomics"})
    if who is None:
        assert listed.status_code == 401
    else:
        names = [d["name"] for d in listed.json()]
        assert names == ([] if who == "charlie" else ["digits"])
    if SEE[who] == 200:
        body = answer.json()
        assert body["url"] == "/serve/genomics/digits/invocations"
        assert (body["version"], body["serving_version"], body["status"]) == ("2", "2", "running")


@pytest.mark.parametrize("who", list(CHANGE))
def test_roll_back_scale_and_stop(api, deployment, who):
    client = api(who)
    answer = client.post(f"/api/v1/deployments/{deployment.pk}/rollback/")
    assert answer.status_code == CHANGE[who]
    deployment.refresh_from_db()
    assert deployment.version == ("1" if CHANGE[who] == 200 else "2")
    assert (
        client.post(f"/api/v1/deployments/{deployment.pk}/scale/", {"replicas": 2}).status_code == CHANGE[who]
    )
    assert client.post(f"/api/v1/deployments/{deployment.pk}/stop/").status_code == CHANGE[who]
    deployment.refresh_from_db()
    assert (deployment.status == DeploymentStatus.STOPPED) == (CHANGE[who] == 200)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"project": "genomics", "name": "x", "model": "m", "version": 1}, "version"),
        ({"project": "genomics", "name": "x", "model": "m", "replica": 2}, "replica"),
        ({"project": "genomics", "name": "x", "model": "m", "replicas": "many"}, "replicas"),
        ({"project": "nowhere", "name": "x", "model": "m", "version": "1"}, "project"),
        ({"project": "genomics", "name": "x"}, "model"),
    ],
)
def test_bad_bodies_are_400_per_field(api, body, field):
    answer = api("bob").post("/api/v1/deployments/", body)
    assert answer.status_code == 400
    assert field in answer.json()


@pytest.mark.parametrize("who", ["vera", "charlie"])
def test_who_may_not_create(api, who):
    answer = api(who).post(
        "/api/v1/deployments/", {"project": "genomics", "name": "x", "model": "m", "version": "1"}
    )
    assert answer.status_code == {"vera": 403, "charlie": 400}[who]
    assert not Deployment.objects.exists()


def test_another_projects_scoped_token_does_not_reach_it(personas, deployment):
    from portal.accounts.actions import create_token

    from ..factories import ProjectFactory

    other = ProjectFactory(slug="physics")
    _token, key = create_token(personas.root, "physics only", scope=other)
    assert TokenClient(key).get(f"/api/v1/deployments/{deployment.pk}/").status_code == 404


PAGES = {"alice": 200, "bob": 200, "root": 200, "vera": 200, "charlie": 404}


@pytest.mark.parametrize("who", list(PAGES))
def test_pages(personas, deployment, who):
    client = personas.client(who)
    page = client.get("/projects/genomics/deployments/digits/")
    assert page.status_code == PAGES[who]
    assert client.get("/projects/genomics/deployments/").status_code == PAGES[who]
    new = client.get("/projects/genomics/deployments/new/")
    assert new.status_code == {"vera": 403}.get(who, PAGES[who])
    if PAGES[who] == 200:
        assert ('id="stop-form"' in page.content.decode()) == (who != "vera")
    stopped = client.post("/projects/genomics/deployments/digits/stop/")
    assert stopped.status_code == {"vera": 403, "charlie": 404}.get(who, 302)


def test_anonymous_pages_ask_to_sign_in(deployment):
    from django.test import Client

    answer = Client().get("/projects/genomics/deployments/digits/")
    assert answer.status_code == 302 and "login" in answer["Location"]


def test_a_running_deployment_shows_in_the_quota_and_a_stopped_one_not(api, deployment):
    deployment.replicas, deployment.cpu, deployment.memory_mib = 2, 1.5, 256
    deployment.save()
    quota = api("bob").get("/api/v1/projects/genomics/quota/").json()
    assert (float(quota["used_cpu"]), quota["used_memory_mib"], quota["running_jobs"]) == (3.0, 512, 0)
    deployment.status = DeploymentStatus.STOPPED
    deployment.save()
    quota = api("bob").get("/api/v1/projects/genomics/quota/").json()
    assert (float(quota["used_cpu"]), quota["used_memory_mib"]) == (0.0, 0)


@pytest.mark.parametrize("who", list(CHANGE))
def test_keys_made_listed_and_revoked(api, deployment, who):
    client = api(who)
    made = client.post(f"/api/v1/deployments/{deployment.pk}/keys/", {"name": "demo"})
    assert made.status_code == {200: 201}.get(CHANGE[who], CHANGE[who])
    listed = client.get(f"/api/v1/deployments/{deployment.pk}/keys/")
    assert listed.status_code == CHANGE[who]
    if CHANGE[who] == 200:
        key = made.json()
        assert key["key"].startswith("tdk_") and key["key"].startswith(key["prefix"])
        assert [k["name"] for k in listed.json()] == ["demo"] and "key" not in listed.json()[0]
        revoked = client.post(f"/api/v1/deployments/{deployment.pk}/keys/{key['id']}/revoke/")
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]
        assert client.post(f"/api/v1/deployments/{deployment.pk}/keys/999999/revoke/").status_code == 404
