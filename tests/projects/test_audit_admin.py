"""The audit log and the quota history in the Django admin: readable by site admins, and changed
by nobody, superusers included (only the portal's actions write them)."""

import pytest

from portal.projects.actions import record
from portal.projects.models import AuditEvent
from portal.quotas.actions import update_quota
from portal.quotas.models import QuotaChange

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(personas) -> AuditEvent:
    return record(personas.alice, personas.project, "member added", "bob as member")


def test_superuser_reads_the_audit_log(personas, event):
    client = personas.client("root")
    listing = client.get("/admin/projects/auditevent/")
    assert listing.status_code == 200
    assert "member added" in listing.content.decode()
    assert client.get(f"/admin/projects/auditevent/{event.pk}/change/").status_code == 200  # a view page


def test_superuser_cannot_add_change_or_delete_audit_events(personas, event):
    client = personas.client("root")
    add = "/admin/projects/auditevent/add/"
    assert client.get(add).status_code == 403
    data = {
        "project": personas.project.pk,
        "verb": "forged",
        "message": "never happened",
        "at_0": "2026-01-01",
    }
    assert client.post(add, data).status_code == 403
    change = f"/admin/projects/auditevent/{event.pk}/change/"
    assert client.post(change, {**data, "at_1": "00:00:00"}).status_code == 403
    delete = f"/admin/projects/auditevent/{event.pk}/delete/"
    assert client.get(delete).status_code == 403
    assert client.post(delete, {"post": "yes"}).status_code == 403
    # No bulk delete either: the action is not offered, and posting it deletes nothing.
    listing = client.get("/admin/projects/auditevent/")
    assert "delete_selected" not in listing.content.decode()
    client.post(
        "/admin/projects/auditevent/",
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )
    event.refresh_from_db()
    assert (event.verb, event.message) == ("member added", "bob as member")
    assert not AuditEvent.objects.filter(verb="forged").exists()


def test_superuser_cannot_delete_quota_history(personas):
    change = update_quota(personas.root, personas.project, "grant", max_gpus=4)
    client = personas.client("root")
    assert client.get(f"/admin/quotas/quotachange/{change.pk}/change/").status_code == 200
    assert client.post(f"/admin/quotas/quotachange/{change.pk}/delete/", {"post": "yes"}).status_code == 403
    client.post(
        "/admin/quotas/quotachange/",
        {"action": "delete_selected", "_selected_action": [change.pk], "post": "yes"},
    )
    assert QuotaChange.objects.filter(pk=change.pk).exists()
