"""Registering, reviewing and managing projects through the pages, with the bad input people type."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from portal.projects.models import AuditEvent, Membership, Project, Role
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db

VALID = {
    "name": "Climate",
    "slug": "climate",
    "principal_investigator": "Dr. C",
    "field_of_research": "Physics",
}


def register(client, **changes):
    return client.post(reverse("projects:register"), {**VALID, **changes})


def test_registered_project_waits_for_review_and_the_requester_owns_it(personas):
    response = register(personas.client("charlie"), expected_needs="2 GPUs for a month")
    assert response.status_code == 302
    project = Project.objects.get(slug="climate")
    assert project.status == Project.Status.PENDING
    assert project.requested_by == personas.charlie
    assert project.memberships.get().role == Role.OWNER
    page = personas.client("charlie").get(response["Location"])
    assert "waits for a site admin" in page.content.decode()
    assert "Climate" in personas.client("charlie").get(reverse("dashboard")).content.decode()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"slug": "genomics"}, "slug", "A project with this slug already exists."),
        ({"slug": "Bad Slug!"}, "slug", "Enter a valid"),
        ({"slug": "-edge"}, "slug", "Use 1 to 40 lowercase letters"),
        ({"slug": "review"}, "slug", "is reserved"),
        ({"slug": "new"}, "slug", "is reserved"),
        ({"slug": "x" * 41}, "slug", "at most 40 characters"),
        ({"name": ""}, "name", "This field is required."),
        ({"name": "   "}, "name", "This field is required."),
        ({"principal_investigator": ""}, "principal_investigator", "This field is required."),
    ],
)
def test_bad_registration_shows_the_error_and_saves_nothing(personas, changes, field, message):
    before = (Project.objects.count(), Membership.objects.count(), AuditEvent.objects.count())
    response = register(personas.client("charlie"), **changes)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors
    assert any(message in error for error in errors[field]), errors
    assert message in response.content.decode()
    assert (Project.objects.count(), Membership.objects.count(), AuditEvent.objects.count()) == before


def test_site_admin_approves_and_requester_sees_it(personas):
    register(personas.client("charlie"))
    review = personas.client("root").get(reverse("quotas:project-review"))
    assert 'id="pending-climate"' in review.content.decode()
    response = personas.client("root").post(reverse("quotas:project-approve", args=["climate"]))
    assert response.status_code == 302
    project = Project.objects.get(slug="climate")
    assert project.status == Project.Status.ACTIVE
    assert project.decided_by == personas.root
    assert AuditEvent.objects.filter(project=project, verb="approved").exists()
    page = personas.client("charlie").get(reverse("projects:detail", args=["climate"])).content.decode()
    assert "A site admin approved this project" in page


def test_site_admin_rejects_with_a_reason_the_requester_reads(personas):
    register(personas.client("charlie"))
    client = personas.client("root")
    detail = reverse("projects:detail", args=["climate"])
    assert 'id="review"' in client.get(detail).content.decode()  # decision forms on the project page
    response = client.post(reverse("quotas:project-reject", args=["climate"]), {"reason": "", "next": detail})
    assert Project.objects.get(slug="climate").status == Project.Status.PENDING
    assert "Say why the project is rejected." in client.get(response["Location"]).content.decode()
    response = client.post(
        reverse("quotas:project-reject", args=["climate"]), {"reason": "Out of scope.", "next": detail}
    )
    assert response["Location"] == detail
    assert Project.objects.get(slug="climate").status == Project.Status.REJECTED
    page = personas.client("charlie").get(detail).content.decode()
    assert "A site admin rejected this project" in page and "Out of scope." in page


def test_a_decision_is_taken_once(personas):
    client = personas.client("root")
    response = client.post(
        reverse("quotas:project-reject", args=["genomics"]), {"reason": "late"}, follow=True
    )
    assert "Only a pending project can be approved or rejected." in response.content.decode()
    assert Project.objects.get(slug="genomics").status == Project.Status.ACTIVE


def test_next_cannot_leave_the_site(personas):
    ProjectFactory(slug="climate", status=Project.Status.PENDING)
    response = personas.client("root").post(
        reverse("quotas:project-approve", args=["climate"]), {"next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("quotas:project-review")


def test_django_admin_actions_approve_and_reject_with_a_reason(personas):
    first = ProjectFactory(slug="first", status=Project.Status.PENDING)
    second = ProjectFactory(slug="second", status=Project.Status.PENDING)
    client = personas.client("root")
    url = reverse("admin:projects_project_changelist")
    response = client.post(url, {"action": "approve", ACTION_CHECKBOX_NAME: [first.pk]})
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.status == Project.Status.ACTIVE

    # Rejecting asks for the reason first, then applies it.
    response = client.post(url, {"action": "reject", ACTION_CHECKBOX_NAME: [second.pk]})
    assert response.status_code == 200
    assert "second" in response.content.decode()
    second.refresh_from_db()
    assert second.status == Project.Status.PENDING
    response = client.post(
        url, {"action": "reject", ACTION_CHECKBOX_NAME: [second.pk], "apply": "1", "reason": "Duplicate."}
    )
    assert response.status_code == 302
    second.refresh_from_db()
    assert (second.status, second.decision_reason) == (Project.Status.REJECTED, "Duplicate.")


def test_owner_adds_a_member_by_email_with_htmx(personas):
    UserFactory(username="dora", email="dora@uni.example")
    response = personas.client("alice").post(
        reverse("projects:add-member", args=["genomics"]),
        {"user": "DORA@uni.example", "role": "viewer"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="members"')  # the fragment, not a page
    assert 'id="member-dora"' in body and "Member added." in body
    assert personas.project.memberships.get(user__username="dora").role == Role.VIEWER


@pytest.mark.parametrize(
    ("user", "role", "message"),
    [
        ("nobody", "member", "No single active user has the username or email “nobody”."),
        ("bob", "member", "bob is already in this project."),
        ("", "member", "This field is required."),
        ("dora", "boss", "Select a valid choice."),
    ],
)
def test_adding_a_bad_member_explains_and_changes_nothing(personas, user, role, message):
    UserFactory(username="dora")
    before = list(Membership.objects.values_list("pk", "role"))
    client = personas.client("alice")
    url = reverse("projects:add-member", args=["genomics"])
    response = client.post(url, {"user": user, "role": role}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert message in response.content.decode()
    response = client.post(url, {"user": user, "role": role}, follow=True)  # without htmx
    assert response.status_code == 200
    assert message in response.content.decode()
    assert list(Membership.objects.values_list("pk", "role")) == before


def test_the_last_owner_can_neither_leave_nor_step_down(personas):
    client = personas.client("alice")
    alice = Membership.objects.get(project=personas.project, user=personas.alice)
    response = client.post(
        reverse("projects:remove-member", args=["genomics", alice.pk]), HTTP_HX_REQUEST="true"
    )
    assert "the last owner cannot leave" in response.content.decode()
    response = client.post(
        reverse("projects:change-role", args=["genomics", alice.pk]), {"role": "member"}, follow=True
    )
    assert "A project needs at least one owner." in response.content.decode()
    alice.refresh_from_db()
    assert alice.role == Role.OWNER


def test_an_owner_leaves_once_another_owner_exists(personas):
    bob = Membership.objects.get(project=personas.project, user=personas.bob)
    client = personas.client("alice")
    client.post(reverse("projects:change-role", args=["genomics", bob.pk]), {"role": "owner"})
    alice = Membership.objects.get(project=personas.project, user=personas.alice)
    response = client.post(
        reverse("projects:remove-member", args=["genomics", alice.pk]), HTTP_HX_REQUEST="true"
    )
    assert response["HX-Redirect"] == reverse("dashboard")
    assert not Membership.objects.filter(pk=alice.pk).exists()
    assert AuditEvent.objects.filter(verb="member removed", message="alice").exists()


def test_archive_is_shown_and_once_only(personas):
    client = personas.client("alice")
    url = reverse("projects:archive", args=["genomics"])
    assert "This project is archived" in client.post(url, follow=True).content.decode()
    assert "already archived" in client.post(url, follow=True).content.decode()


def test_dashboard_lists_only_my_projects(personas):
    ProjectFactory(slug="secret", name="Secret")
    mine = MembershipFactory(user=personas.charlie, project__name="Charlie's").project
    body = personas.client("charlie").get(reverse("dashboard")).content.decode()
    assert mine.name in body or "Charlie&#x27;s" in body
    assert "Secret" not in body and "Genomics" not in body


def test_detail_runs_a_bounded_number_of_queries(personas, django_assert_max_num_queries):
    for n in range(30):
        MembershipFactory(project=personas.project, role=Role.VIEWER, user=UserFactory(username=f"u{n}"))
    client = personas.client("alice")
    with django_assert_max_num_queries(13):  # 13 since deployments count in the usage bars (one sum)
        assert client.get(reverse("projects:detail", args=["genomics"])).status_code == 200


@pytest.mark.django_db
def test_a_slug_with_a_nul_byte_is_a_404_not_a_database_error(personas):
    from django.http import Http404

    from portal.projects.access import get_project_for_user

    with pytest.raises(Http404):
        get_project_for_user(personas.alice, "genomics\x00")
    assert get_project_for_user(personas.alice, "genomics") == personas.project


def test_site_admin_approves_with_a_quota_prefilled_with_the_sites_default(personas, settings):
    from portal.quotas.models import Quota, QuotaChange

    register(personas.client("charlie"))
    client = personas.client("root")
    page = client.get(reverse("quotas:project-review")).content.decode()
    default_gpus = settings.TALLER_DEFAULT_QUOTA["max_gpus"]
    assert f'name="max_gpus" value="{default_gpus}"' in page and 'id="id_climate_max_gpus"' in page

    refused = client.post(
        reverse("quotas:project-approve", args=["climate"]), {"max_gpus": "-1", "reason": "ok"}
    )
    assert refused.status_code == 400
    assert Project.objects.get(slug="climate").status == Project.Status.PENDING
    assert 'id="id_climate_max_gpus_error"' in refused.content.decode()
    assert not QuotaChange.objects.filter(project__slug="climate").exists()

    response = client.post(
        reverse("quotas:project-approve", args=["climate"]),
        {"max_gpus": "3", "gpu_hours_per_period": "12.5", "reason": "welcome"},
    )
    assert response.status_code == 302
    project = Project.objects.get(slug="climate")
    assert project.status == Project.Status.ACTIVE
    quota = Quota.objects.get(project=project)
    assert quota.max_gpus == 3 and str(quota.gpu_hours_per_period) == "12.50"
    assert QuotaChange.objects.get(project=project).reason == "welcome"
