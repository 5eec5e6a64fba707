"""Personas shared by every test: alice owns the project, bob is a member, vera a viewer,
charlie has no access, and root is a site admin."""

from dataclasses import dataclass

import pytest
from django.test import Client

from portal.projects.models import Project, Role

from .factories import MembershipFactory, ProjectFactory, UserFactory


@dataclass
class Personas:
    project: Project
    alice: object  # owner
    bob: object  # member
    vera: object  # viewer
    charlie: object  # outsider
    root: object  # site admin

    def client(self, who: str | None) -> Client:
        client = Client()
        if who is not None:
            client.force_login(getattr(self, who))
        return client


@pytest.fixture(autouse=True)
def _isolated_var(settings, tmp_path):
    """Each test writes its files (cache, job folders, broker) under its own temporary folder."""
    settings.VAR_DIR = tmp_path / "var"
    settings.VAR_DIR.mkdir()


@pytest.fixture
def personas(db) -> Personas:
    alice = UserFactory(username="alice", first_name="Alice")
    project = ProjectFactory(slug="genomics", name="Genomics", requested_by=alice)
    MembershipFactory(project=project, user=alice, role=Role.OWNER)
    bob = MembershipFactory(project=project, user=UserFactory(username="bob"), role=Role.MEMBER).user
    vera = MembershipFactory(project=project, user=UserFactory(username="vera"), role=Role.VIEWER).user
    charlie = UserFactory(username="charlie")
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    return Personas(project=project, alice=alice, bob=bob, vera=vera, charlie=charlie, root=root)
