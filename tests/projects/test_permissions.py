"""Every URL of the foundation, for every persona: who gets the page, who a redirect, a 403 or a 404."""

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.urls import reverse

from portal.accounts.actions import create_token
from portal.accounts.models import ApiToken
from portal.projects.models import Membership, Project, Role
from tests.factories import UserFactory

PERSONAS = ["anonymous", "charlie", "vera", "bob", "alice", "root"]
LOGIN = "login"  # a redirect to the sign-in page
ADMIN_LOGIN = "admin-login"  # a redirect to the admin's sign-in page
DONE = 302  # the action was carried out and redirected back


@dataclass
class Case:
    method: str
    url: Callable  # personas -> url
    expected: tuple  # one per PERSONAS entry
    data: dict = field(default_factory=dict)
    done: Callable | None = None  # personas -> bool: did the action happen?
    setup: Callable | None = None


def _bob_membership(p) -> Membership:
    return Membership.objects.get(project=p.project, user=p.bob)


def _pending(p) -> None:
    Project.objects.filter(pk=p.project.pk).update(status=Project.Status.PENDING)


def _alice_token(p) -> None:
    p.token = create_token(p.alice, "laptop")[0]


CASES = {
    "dashboard": Case("get", lambda p: reverse("dashboard"), (LOGIN, 200, 200, 200, 200, 200)),
    "register form": Case("get", lambda p: reverse("projects:register"), (LOGIN, 200, 200, 200, 200, 200)),
    "register": Case(
        "post",
        lambda p: reverse("projects:register"),
        (LOGIN, DONE, DONE, DONE, DONE, DONE),
        data={"name": "Climate", "slug": "climate", "principal_investigator": "Dr. C"},
        done=lambda p: Project.objects.filter(slug="climate").exists(),
    ),
    "detail": Case(
        "get", lambda p: reverse("projects:detail", args=["genomics"]), (LOGIN, 404, 200, 200, 200, 200)
    ),
    "detail of a missing project": Case(
        "get", lambda p: reverse("projects:detail", args=["nothing"]), (LOGIN, 404, 404, 404, 404, 404)
    ),
    "add member": Case(
        "post",
        lambda p: reverse("projects:add-member", args=["genomics"]),
        (LOGIN, 404, 403, 403, DONE, DONE),
        data={"user": "dora", "role": "member"},
        setup=lambda p: UserFactory(username="dora"),
        done=lambda p: p.project.memberships.filter(user__username="dora").exists(),
    ),
    "change role": Case(
        "post",
        lambda p: reverse("projects:change-role", args=["genomics", _bob_membership(p).pk]),
        (LOGIN, 404, 403, 403, DONE, DONE),
        data={"role": "viewer"},
        done=lambda p: _bob_membership(p).role == Role.VIEWER,
    ),
    "remove member": Case(
        "post",
        lambda p: reverse("projects:remove-member", args=["genomics", _bob_membership(p).pk]),
        (LOGIN, 404, 403, 403, DONE, DONE),
        done=lambda p: not p.project.memberships.filter(user=p.bob).exists(),
    ),
    "archive": Case(
        "post",
        lambda p: reverse("projects:archive", args=["genomics"]),
        (LOGIN, 404, 403, 403, DONE, DONE),
        done=lambda p: Project.objects.get(pk=p.project.pk).status == Project.Status.ARCHIVED,
    ),
    "review": Case("get", lambda p: reverse("quotas:project-review"), (LOGIN, 403, 403, 403, 403, 200)),
    "approve": Case(
        "post",
        lambda p: reverse("quotas:project-approve", args=["genomics"]),
        (LOGIN, 403, 403, 403, 403, DONE),
        setup=_pending,
        done=lambda p: Project.objects.get(pk=p.project.pk).status == Project.Status.ACTIVE,
    ),
    "reject": Case(
        "post",
        lambda p: reverse("quotas:project-reject", args=["genomics"]),
        (LOGIN, 403, 403, 403, 403, DONE),
        data={"reason": "No budget this year."},
        setup=_pending,
        done=lambda p: Project.objects.get(pk=p.project.pk).status == Project.Status.REJECTED,
    ),
    "profile": Case("get", lambda p: reverse("accounts:profile"), (LOGIN, 200, 200, 200, 200, 200)),
    "revoke alice's token": Case(
        "post",
        lambda p: reverse("accounts:revoke-token", args=[p.token.pk]),
        (LOGIN, 404, 404, 404, DONE, 404),
        setup=_alice_token,
        done=lambda p: not ApiToken.objects.get(pk=p.token.pk).is_active(),
    ),
    "admin": Case(
        "get",
        lambda p: reverse("admin:index"),
        (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200),
    ),
    "admin projects": Case(
        "get",
        lambda p: reverse("admin:projects_project_changelist"),
        (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200),
    ),
}


@pytest.mark.parametrize("who", PERSONAS)
@pytest.mark.parametrize("name", list(CASES))
def test_permission_matrix(personas, name, who):
    case = CASES[name]
    if case.setup:
        case.setup(personas)
    url = case.url(personas)
    client = personas.client(None if who == "anonymous" else who)
    response = getattr(client, case.method)(url, case.data)
    expected = case.expected[PERSONAS.index(who)]
    if expected == LOGIN:
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login") + "?next=")
    elif expected == ADMIN_LOGIN:
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
    else:
        assert response.status_code == expected, response.content[:500]
    if case.done is not None:
        assert case.done(personas) == (expected == DONE)


def test_healthz_is_public(personas, mlflow_uri):
    for who in PERSONAS:
        response = personas.client(None if who == "anonymous" else who).get(reverse("healthz"))
        assert response.status_code == 200
        assert response.json()["status"] == "ok"


@pytest.mark.parametrize(
    "url",
    [
        lambda: reverse("projects:add-member", args=["genomics"]),
        lambda: reverse("projects:archive", args=["genomics"]),
        lambda: reverse("quotas:project-approve", args=["genomics"]),
    ],
)
def test_actions_refuse_get(personas, url):
    assert personas.client("root").get(url()).status_code == 405


@pytest.mark.django_db
def test_a_project_found_for_a_user_brings_their_role_in_the_same_query(personas, django_assert_num_queries):
    from portal.projects import access

    expected = {"alice": 3, "bob": 2, "vera": 1, "charlie": 0, "root": 3}
    for name, level in expected.items():
        user = getattr(personas, name)
        with django_assert_num_queries(1):
            project = access.find_project(personas.project.slug, user=user)
            assert access.level_of(user, project) == level
    # Narrowed to another project (a job's token of elsewhere), the project is not found at all.
    assert (
        access.find_project(personas.project.slug, only=personas.project.pk + 1000, user=personas.bob) is None
    )
