"""The notifications page by persona: everyone who sees the project saves their own choice;
owners see the webhooks with their deliveries, add one (refused addresses on the form), test and
delete; others cannot."""

from datetime import timedelta

import pytest

from pipelines import notify
from pipelines.models import Delivery, NotificationChoice, Webhook

pytestmark = pytest.mark.django_db
PAGE = "/projects/genomics/notifications/"


@pytest.mark.parametrize(
    ("who", "status", "owner"),
    [
        ("alice", 200, True),
        ("bob", 200, False),
        ("vera", 200, False),
        ("root", 200, True),
        ("charlie", 404, False),
    ],
)
def test_the_page_by_persona(personas, who, status, owner):
    notify.add_webhook(personas.alice, personas.project, "https://8.8.8.8/hook")
    response = personas.client(who).get(PAGE)
    assert response.status_code == status
    if status == 200:
        assert ('id="webhooks"' in response.content.decode()) == owner
        assert ("https://8.8.8.8/hook" in response.content.decode()) == owner


def test_a_member_saves_their_choice(personas):
    response = personas.client("bob").post(PAGE, {"form": "choice", "on_end": "on"})
    assert response.status_code == 302
    choice = NotificationChoice.objects.get(user=personas.bob)
    assert choice.on_end and not choice.on_failure


def test_a_wait_threshold_on_the_page(personas):
    client = personas.client("vera")
    response = client.post(PAGE, {"form": "choice", "on_failure": "on", "wait_minutes": "90"})
    assert response.status_code == 302
    assert NotificationChoice.objects.get(user=personas.vera).wait_longer_than == timedelta(minutes=90)
    assert 'name="wait_minutes" value="90"' in client.get(PAGE).content.decode()
    refused = client.post(PAGE, {"form": "choice", "wait_minutes": "0"})
    assert refused.status_code == 200 and 'id="id_wait_minutes"' in refused.content.decode()
    assert NotificationChoice.objects.get(user=personas.vera).wait_longer_than == timedelta(minutes=90)
    assert client.post(PAGE, {"form": "choice", "wait_minutes": ""}).status_code == 302
    assert NotificationChoice.objects.get(user=personas.vera).wait_longer_than is None


def test_owners_add_test_and_delete(personas):
    client = personas.client("alice")
    refused = client.post(PAGE, {"form": "webhook", "url": "https://169.254.169.254/x", "kind": "chat"})
    assert refused.status_code == 200 and "does not call it" in refused.content.decode()
    assert (
        client.post(PAGE, {"form": "webhook", "url": "https://8.8.8.8/hook", "kind": "signed"}).status_code
        == 302
    )
    webhook = Webhook.objects.get()
    assert client.post(f"/webhooks/{webhook.pk}/test/").status_code == 302
    page = client.get(PAGE).content.decode()
    assert 'data-status="pending"' in page and "test from Taller" in page
    client.post(f"/webhooks/{webhook.pk}/delete/")
    assert not Webhook.objects.exists()


@pytest.mark.parametrize(("who", "status"), [("bob", 403), ("charlie", 404)])
def test_others_cannot_manage_webhooks(personas, who, status):
    webhook = notify.add_webhook(personas.alice, personas.project, "https://8.8.8.8/hook")
    client = personas.client(who)
    assert (
        client.post(PAGE, {"form": "webhook", "url": "https://8.8.4.4/", "kind": "chat"}).status_code
        == status
    )
    assert client.post(f"/webhooks/{webhook.pk}/test/").status_code == status
    assert client.post(f"/webhooks/{webhook.pk}/delete/").status_code == status
    assert Webhook.objects.count() == 1 and not Delivery.objects.exists()
