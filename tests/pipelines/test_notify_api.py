"""Notification API by persona: each user's own choice; webhooks for owners only, the secret of
a signed one shown once, refused addresses a 400, a test delivery with a visible outcome."""

from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from pipelines.models import Delivery, NotificationChoice, Webhook
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db
HOOKS = "/api/v1/projects/genomics/webhooks/"


def api(personas, who):
    client = APIClient()
    if who:
        client.force_authenticate(getattr(personas, who))
    return client


@pytest.mark.parametrize("who", ["alice", "bob", "vera"])
def test_each_user_sets_their_own_choice(personas, who):
    client = api(personas, who)
    assert client.get("/api/v1/projects/genomics/notifications/").json() == {
        "on_end": False,
        "on_failure": True,
        "wait_minutes": None,
    }
    response = client.put(
        "/api/v1/projects/genomics/notifications/", {"on_end": True, "on_failure": True}, format="json"
    )
    assert response.status_code == 200
    assert NotificationChoice.objects.get(project=personas.project).user == getattr(personas, who)


def test_a_wait_threshold_in_minutes(personas):
    client = api(personas, "bob")
    body = {"on_end": False, "on_failure": True, "wait_minutes": 45}
    assert client.put("/api/v1/projects/genomics/notifications/", body, format="json").json() == body
    assert NotificationChoice.objects.get().wait_longer_than == timedelta(minutes=45)
    partial = {"on_end": True, "on_failure": True}  # a body without it keeps the threshold
    assert (
        client.put("/api/v1/projects/genomics/notifications/", partial, format="json").json()["wait_minutes"]
        == 45
    )
    body["wait_minutes"] = None
    assert client.put("/api/v1/projects/genomics/notifications/", body, format="json").json() == body


@pytest.mark.parametrize("minutes", [0, -5, "30", True, 1.5, 60 * 24 * 7 + 1])
def test_a_bad_wait_threshold_is_a_400(personas, minutes):
    body = {"on_end": False, "on_failure": True, "wait_minutes": minutes}
    response = api(personas, "bob").put("/api/v1/projects/genomics/notifications/", body, format="json")
    assert response.status_code == 400 and list(response.json()) == ["wait_minutes"]
    assert not NotificationChoice.objects.exists()


def test_outsiders_have_no_choice(personas):
    assert api(personas, "charlie").get("/api/v1/projects/genomics/notifications/").status_code == 404
    assert api(personas, None).get("/api/v1/projects/genomics/notifications/").status_code == 401


def test_owners_add_test_and_delete_webhooks(personas):
    client = api(personas, "alice")
    response = client.post(HOOKS, {"url": "https://8.8.8.8/hook", "kind": "signed"}, format="json")
    assert response.status_code == 201, response.json()
    assert len(response.json()["secret"]) == 64
    listed = client.get(HOOKS).json()
    assert [w["url"] for w in listed] == ["https://8.8.8.8/hook"] and "secret" not in listed[0]
    webhook = listed[0]["id"]
    tested = client.post(f"{HOOKS}{webhook}/test/")
    assert tested.status_code == 202 and tested.json()["status"] == "pending"
    assert client.get(HOOKS).json()[0]["deliveries"][0]["subject"] == "[genomics] test from Taller"
    assert client.delete(f"{HOOKS}{webhook}/").status_code == 204
    assert not Webhook.objects.exists() and not Delivery.objects.exists()


def test_a_refused_address_is_a_400(personas):
    response = api(personas, "alice").post(HOOKS, {"url": "https://127.0.0.1/hook"}, format="json")
    assert response.status_code == 400 and "url" in response.json()
    response = api(personas, "alice").post(HOOKS, {"url": "http://8.8.8.8/hook"}, format="json")
    assert response.json() == {"url": ["Webhooks are called over https only."]}
    assert not Webhook.objects.exists()


@pytest.mark.parametrize(("who", "status"), [("bob", 403), ("vera", 403), ("charlie", 404), (None, 401)])
def test_only_owners_see_and_change_webhooks(personas, who, status):
    client = api(personas, who)
    assert client.get(HOOKS).status_code == status
    assert client.post(HOOKS, {"url": "https://8.8.8.8/hook"}, format="json").status_code == status
    assert not Webhook.objects.exists()


def test_a_webhooks_deliveries_page_for_owners(personas):
    webhook = Webhook.objects.create(
        project=personas.project, url="https://8.8.8.8/h", created_by=personas.alice
    )
    Delivery.objects.bulk_create(
        Delivery(
            webhook=webhook, subject=f"s{i}", status="failed" if i % 2 else "sent", last_error="HTTP 500"
        )
        for i in range(60)
    )
    url = f"{HOOKS}{webhook.pk}/deliveries/"
    page = api(personas, "alice").get(url).json()
    assert page["count"] == 60 and len(page["results"]) == 50 and page["next"]
    assert page["results"][0]["subject"] == "s59" and page["results"][0]["status"] == "failed"
    assert len(api(personas, "root").get(url).json()["results"]) == 50
    for who, status in [("bob", 403), ("vera", 403), ("charlie", 404), (None, 401)]:
        assert api(personas, who).get(url).status_code == status
    other = Webhook.objects.create(
        project=ProjectFactory(slug="physics", requested_by=personas.charlie), url="https://8.8.8.8/x",
        created_by=personas.charlie,
    )  # fmt: skip
    assert api(personas, "alice").get(f"{HOOKS}{other.pk}/deliveries/").status_code == 404
