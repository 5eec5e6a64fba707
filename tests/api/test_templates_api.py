"""Job templates of a project in the API, under every persona with real API tokens: anyone in the
project reads, members and owners save and delete (a viewer 403, an outsider 404), a template is
checked as a job would be (a 400 per field), the site's templates are read-only here."""

import pytest

from clusterjobs.models import JobTemplate

PERSONAS = [None, "alice", "bob", "vera", "charlie", "root"]
READ = {None: 401, "alice": 200, "bob": 200, "vera": 200, "charlie": 404, "root": 200}
CREATE = {None: 401, "alice": 201, "bob": 201, "vera": 403, "charlie": 404, "root": 201}
DELETE = {None: 401, "alice": 204, "bob": 204, "vera": 403, "charlie": 404, "root": 204}
URL = "/api/v1/projects/genomics/templates/"
BODY = {
    "title": "Digits, short",
    "description": "Two epochs.",
    "command": ["python", "-m", "examples.train", "--epochs", "2"],
    "env": {"SEED": "1"},
    "resources": {"cpu": "2", "memory_mib": 1536},
    "time_limit_minutes": 20,
}


@pytest.fixture
def own(personas):
    return JobTemplate.objects.create(
        project=personas.project,
        created_by=personas.bob,
        title="Ours",
        image="python:3.11-slim",
        command=["x"],
    )


@pytest.mark.django_db
@pytest.mark.parametrize("who", PERSONAS)
def test_list_and_show(api, personas, own, who):
    response = api(who).get(URL)
    assert response.status_code == READ[who]
    if response.status_code != 200:
        return
    titles = [row["title"] for row in response.json()["results"]]
    assert titles == ["Example: train a small model", "Ours"]  # the site's and the project's own
    shown = api(who).get(f"{URL}{own.pk}/").json()
    assert shown["project"] == "genomics" and shown["created_by"] == "bob"
    assert shown["command"] == ["x"] and shown["resources"] == {
        "cpu": "1.000",
        "memory_mib": 2048,
        "gpus": 0,
        "gpu_type": "",
    }


@pytest.mark.django_db
@pytest.mark.parametrize("who", PERSONAS)
def test_create(api, personas, who):
    response = api(who).post(URL, BODY)
    assert response.status_code == CREATE[who], response.content
    if response.status_code != 201:
        assert not JobTemplate.objects.filter(title=BODY["title"]).exists()
        return
    template = JobTemplate.objects.get(title=BODY["title"])
    assert template.project == personas.project and template.created_by.username == who
    assert template.memory_mib == 1536 and template.time_limit_minutes == 20
    assert template.image == "python:3.11-slim"  # the site's default when left out
    assert response.json()["resources"]["cpu"] == "2.000"


@pytest.mark.django_db
@pytest.mark.parametrize("who", PERSONAS)
def test_delete(api, own, who):
    response = api(who).delete(f"{URL}{own.pk}/")
    assert response.status_code == DELETE[who]
    assert JobTemplate.objects.filter(pk=own.pk).exists() == (DELETE[who] != 204)


@pytest.mark.django_db
def test_the_sites_templates_are_not_deleted_here(api):
    example = JobTemplate.objects.get(project=None)
    response = api("alice").delete(f"{URL}{example.pk}/")
    assert response.status_code == 403 and JobTemplate.objects.filter(pk=example.pk).exists()


@pytest.mark.django_db
def test_another_projects_template_is_not_found(api, personas):
    from tests.factories import ProjectFactory

    theirs = JobTemplate.objects.create(
        project=ProjectFactory(slug="physics"), title="T", image="x", command=["x"]
    )
    assert api("bob").get(f"{URL}{theirs.pk}/").status_code == 404
    assert api("bob").delete(f"{URL}{theirs.pk}/").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"resources": {"cpu": "9"}}, {"resources": {"cpu": ["At most 8 CPU cores for one job here."]}}),
        ({"command": []}, {"command": ["Give the command as a non-empty list of arguments."]}),
        (
            {"env": {"MLFLOW_X": "1"}},
            {"env": ["“MLFLOW_X” is reserved: the portal sets MLFLOW_* and TALLER_* variables itself."]},
        ),
        ({"title": 5}, {"title": ["Must be a string."]}),
        ({"name": "x"}, None),  # a template has no name of its own: an unknown field
        ({"title": "Ours"}, {"title": ["The project already has a template of this title."]}),
    ],
)
def test_bad_templates_are_a_400_per_field(api, own, changes, errors):
    response = api("bob").post(URL, BODY | changes)
    assert response.status_code == 400, response.content
    if errors is not None:
        assert response.json() == errors
    else:
        assert "name" in response.json()
    assert JobTemplate.objects.filter(project__slug="genomics").count() == 1
