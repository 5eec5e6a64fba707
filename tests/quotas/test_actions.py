"""Quota changes, requests and decisions: validated, recorded, and nothing half-done."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from portal.projects.models import AuditEvent, Membership
from portal.quotas import actions
from portal.quotas.models import MemberCap, Quota, QuotaChange, QuotaRequest

pytestmark = pytest.mark.django_db


def test_defaults_from_settings(personas, settings):
    settings.TALLER_DEFAULT_QUOTA = {**settings.TALLER_DEFAULT_QUOTA, "max_gpus": 3, "period": "quarterly"}
    from tests.factories import ProjectFactory

    quota = ProjectFactory(slug="fresh").quota
    assert (quota.max_gpus, quota.period) == (3, "quarterly")


def test_update_records_who_when_why_and_values(personas):
    root, project = personas.root, personas.project
    change = actions.update_quota(root, project, "new grant", max_gpus=6, gpu_hours_per_period="250.5")
    quota = Quota.objects.get(project=project)
    assert quota.max_gpus == 6 and quota.gpu_hours_per_period == Decimal("250.5")
    assert change.actor == root and change.reason == "new grant"
    assert ("max_gpus", 1, 6) in change.changed()
    assert (
        change.old_values["gpu_hours_per_period"] == "100"
        and change.new_values["gpu_hours_per_period"] == "250.5"
    )
    assert AuditEvent.objects.filter(
        project=project, verb="quota changed", message__contains="new grant"
    ).exists()


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"max_gpus": -1}, "max_gpus", "cannot be negative"),
        ({"max_gpus": 5000}, "max_gpus", "more than any project may have"),
        ({"max_cpu": "abc"}, "max_cpu", "Enter a number"),
        ({"max_running_jobs": 1.5}, "max_running_jobs", "whole number"),
        ({"max_time_limit_minutes": 0}, "max_time_limit_minutes", "at least 1 minute"),
        ({"gpu_hours_per_period": "1.234"}, "gpu_hours_per_period", "decimal places"),
        ({"period": "daily"}, "period", "weekly, monthly"),
        ({"colour": 3}, "colour", "not a quota field"),
    ],
)
def test_bad_values_get_a_message_per_field_and_change_nothing(personas, values, field, message):
    before = Quota.objects.get(project=personas.project).limits()
    with pytest.raises(ValidationError) as error:
        actions.update_quota(personas.root, personas.project, "typo", **values)
    assert message in " ".join(error.value.message_dict[field])
    assert Quota.objects.get(project=personas.project).limits() == before
    assert not QuotaChange.objects.exists()


def test_cluster_size_bounds_a_quota(personas, settings):
    settings.TALLER_CLUSTER_GPUS = 16
    with pytest.raises(ValidationError, match="whole cluster has only 16"):
        actions.update_quota(personas.root, personas.project, "too much", max_gpus=17)
    actions.update_quota(personas.root, personas.project, "all of it", max_gpus=16)


def test_only_site_admins_change_quotas_and_a_reason_is_needed(personas):
    with pytest.raises(ValidationError, match="Only a site admin"):
        actions.update_quota(personas.alice, personas.project, "mine", max_gpus=8)
    with pytest.raises(ValidationError) as error:
        actions.update_quota(personas.root, personas.project, "  ", max_gpus=8)
    assert "reason" in error.value.message_dict


def test_setting_the_values_a_quota_has_records_nothing(personas):
    before = (QuotaChange.objects.count(), AuditEvent.objects.count())
    limits = Quota.objects.get(project=personas.project).limits()
    assert actions.update_quota(personas.root, personas.project, "same", **limits) is None
    assert (QuotaChange.objects.count(), AuditEvent.objects.count()) == before


def test_request_approve_changes_the_quota_and_records_it(personas):
    request = actions.request_quota(
        personas.alice, personas.project, "thesis deadline", max_gpus=4, max_cpu=""
    )
    assert request.values == {"max_gpus": 4} and request.is_pending()
    change = actions.approve_request(personas.root, request, "granted")
    request.refresh_from_db()
    assert request.status == QuotaRequest.Status.APPROVED and request.decided_by == personas.root
    assert Quota.objects.get(project=personas.project).max_gpus == 4
    assert change.request == request and "granted" in change.reason
    with pytest.raises(ValidationError, match="already approved"):
        actions.decline_request(personas.root, request, "changed my mind")


def test_request_decline_needs_a_reason_and_keeps_the_quota(personas):
    request = actions.request_quota(personas.alice, personas.project, "more", gpu_hours_per_period=500)
    with pytest.raises(ValidationError):
        actions.decline_request(personas.root, request, "")
    actions.decline_request(personas.root, request, "no budget left this year")
    request.refresh_from_db()
    assert (
        request.status == QuotaRequest.Status.DECLINED
        and request.decision_reason == "no budget left this year"
    )
    assert Quota.objects.get(project=personas.project).gpu_hours_per_period == Decimal(100)


def test_requests_from_non_owners_or_without_content_are_refused(personas):
    for who in (personas.bob, personas.vera, personas.charlie):
        with pytest.raises(ValidationError, match="Only an owner"):
            actions.request_quota(who, personas.project, "please", max_gpus=4)
    with pytest.raises(ValidationError, match="which part"):
        actions.request_quota(personas.alice, personas.project, "please")
    with pytest.raises(ValidationError) as error:
        actions.request_quota(personas.alice, personas.project, "please", max_gpus=1)
    assert "current value" in error.value.message_dict["max_gpus"][0]
    with pytest.raises(ValidationError) as error:
        actions.request_quota(personas.alice, personas.project, "please", max_gpus=-4)
    assert "negative" in error.value.message_dict["max_gpus"][0]
    assert not QuotaRequest.objects.exists()


def test_member_caps_set_and_removed(personas):
    membership = Membership.objects.get(project=personas.project, user=personas.bob)
    cap = actions.set_member_cap(personas.alice, membership, max_gpus=1, max_running_jobs="")
    assert (cap.max_gpus, cap.max_running_jobs) == (1, None)
    with pytest.raises(ValidationError) as error:
        actions.set_member_cap(personas.alice, membership, max_gpus=-2)
    assert "max_gpus" in error.value.message_dict
    assert actions.set_member_cap(personas.alice, membership) is None
    assert not MemberCap.objects.exists()
