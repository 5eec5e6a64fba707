import pytest
from django.urls import reverse

from portal.projects.models import Project


@pytest.mark.django_db
def test_register_project_makes_requester_owner(personas):
    client = personas.client("charlie")
    response = client.post(
        reverse("projects:register"),
        {"name": "Climate", "slug": "climate", "principal_investigator": "Dr. C"},
    )
    assert response.status_code == 302
    project = Project.objects.get(slug="climate")
    assert project.status == Project.Status.PENDING
    assert project.memberships.get().user == personas.charlie
    assert hasattr(project, "quota")
