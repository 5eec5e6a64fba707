"""Reproduce from a job, a run or a model version (page, API): a new job with the whole stored
request, the image pinned by digest, linked to its original; refused as a submission is (a
viewer, an outsider, an archived project, over quota), with nothing created."""

import pytest
from django.core.cache import cache

from clusterjobs.models import Job
from portal.accounts.actions import create_token
from portal.projects.models import Project
from portal.quotas.models import ensure_quota
from tests.api.conftest import TokenClient

from .provenance_setup import COMMIT, DIGEST, REPOSITORY, made_job

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_scope_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api(personas):
    return lambda who: TokenClient(create_token(getattr(personas, who), "test")[1] if who else None)


@pytest.fixture
def made(personas, mlflow_uri, settings):
    settings.TALLER_GIT_TRUSTED_HOSTS = ["github.com"]  # no name lookups in tests: the host is taken as is
    made = made_job(personas.project, personas.bob, mlflow_uri=mlflow_uri)
    # A field added to the stored source by other work comes along whole.
    Job.objects.filter(pk=made.job.pk).update(
        source={"git": REPOSITORY, "ref": "main", "commit": COMMIT}, env={"SEED": "7"}, secret_env_names=[]
    )
    made.job.refresh_from_db()
    return made


def assert_reproduces(new: Job, original: Job) -> None:
    assert new.reproduced_from_id == original.pk and new.rerun_of_id is None
    assert new.image == f"python:3.11-slim@{DIGEST}"
    assert new.source == original.source and new.command == original.command and new.env == original.env
    assert (new.cpu, new.memory_mib, new.gpus, new.time_limit_minutes) == (
        original.cpu,
        original.memory_mib,
        original.gpus,
        original.time_limit_minutes,
    )
    assert new.experiment_name == original.experiment_name and new.status == "queued"


def test_reproduce_a_job_run_and_version_through_the_api(api, personas, made):
    bob = api("bob")
    short = made.model.split(".", 1)[1]
    answers = [
        bob.post(f"/api/v1/jobs/{made.job.pk}/reproduce/"),
        bob.post("/api/v1/reproductions/", {"from": {"job": made.job.pk}}),
        bob.post("/api/v1/reproductions/", {"from": {"run": made.run_id}}),
        bob.post(
            "/api/v1/reproductions/",
            {"from": {"project": "genomics", "model": short, "version": made.version}},
        ),
    ]
    for response in answers:
        assert response.status_code == 201, response.content
        assert_reproduces(Job.objects.get(pk=response.json()["id"]), made.job)
    shown = api("vera").get(f"/api/v1/jobs/{made.job.pk}/provenance/").json()
    assert sorted(r["id"] for r in shown["job"]["reproductions"]) == sorted(a.json()["id"] for a in answers)
    new = answers[0].json()["id"]
    assert (
        api("vera").get(f"/api/v1/jobs/{new}/provenance/").json()["job"]["reproduced_from"]["id"]
        == made.job.pk
    )


@pytest.mark.parametrize(("who", "status"), [(None, 401), ("charlie", 404), ("vera", 403)])
def test_who_may_not_reproduce(api, personas, made, who, status):
    before = Job.objects.count()
    client = api(who)
    assert client.post(f"/api/v1/jobs/{made.job.pk}/reproduce/").status_code == status
    assert client.post("/api/v1/reproductions/", {"from": {"run": made.run_id}}).status_code == status
    assert Job.objects.count() == before


def test_bad_bodies_are_400(api, made):
    bob = api("bob")
    for body in (
        {},
        {"from": "x"},
        {"from": {}},
        {"from": {"job": made.job.pk, "run": made.run_id}},
        {"from": {"model": "classifier"}},
    ):
        response = bob.post("/api/v1/reproductions/", body)
        assert response.status_code == 400, (body, response.content)
        assert "from" in response.json()


def submit_answer(api, original: Job) -> dict:
    """What submitting the original's request answers (the messages a reproduction must share)."""
    return api("bob").post(
        "/api/v1/jobs/",
        {
            "project": "genomics",
            "name": original.name,
            "command": original.command,
            "source": original.source,
            "resources": {"cpu": str(original.cpu), "memory_mib": original.memory_mib, "gpus": original.gpus},
        },
    )


def test_an_archived_project_and_a_full_quota_are_refused_as_a_submission_is(api, personas, made):
    before = Job.objects.count()
    quota = ensure_quota(personas.project)
    quota.max_gpus = 0
    quota.save()
    refused = api("bob").post(f"/api/v1/jobs/{made.job.pk}/reproduce/")
    submitted = submit_answer(api, made.job)
    assert refused.status_code == submitted.status_code == 400
    assert refused.json()["resources"]["gpus"] == submitted.json()["resources"]["gpus"]

    quota.max_gpus = 1
    quota.save()
    Project.objects.filter(pk=personas.project.pk).update(status=Project.Status.ARCHIVED)
    refused = api("bob").post("/api/v1/reproductions/", {"from": {"run": made.run_id}})
    submitted = submit_answer(api, made.job)
    assert refused.status_code == 400 and "archived" in str(refused.json()["project"])
    assert refused.json()["project"] == submitted.json()["project"]
    assert Job.objects.count() == before


def test_the_page_button_reproduces_and_both_pages_link(personas, made):
    bob = personas.client("bob")
    response = bob.post(f"/jobs/{made.job.pk}/reproduce/", {"next": "https://evil.example/"})
    new = Job.objects.get(reproduced_from=made.job)
    assert response.status_code == 302 and response["Location"] == f"/jobs/{new.pk}/"
    assert_reproduces(new, made.job)
    assert f"/jobs/{made.job.pk}/" in bob.get(f"/jobs/{new.pk}/").content.decode()
    assert f"/jobs/{new.pk}/" in bob.get(f"/jobs/{made.job.pk}/").content.decode()
    assert f"/jobs/{new.pk}/" in bob.get(f"/jobs/{made.job.pk}/provenance/").content.decode()
    assert personas.client("vera").post(f"/jobs/{made.job.pk}/reproduce/").status_code == 403
    assert personas.client("charlie").post(f"/jobs/{made.job.pk}/reproduce/").status_code == 404
    assert Job.objects.filter(reproduced_from=made.job).count() == 1


def test_a_refused_page_reproduction_says_why(personas, made):
    Project.objects.filter(pk=personas.project.pk).update(status=Project.Status.ARCHIVED)
    page = f"/jobs/{made.job.pk}/provenance/"
    response = personas.client("bob").post(f"/jobs/{made.job.pk}/reproduce/", {"next": page}, follow=True)
    assert response.redirect_chain[-1][0] == page
    assert "only an active project runs jobs" in response.content.decode()
    assert not Job.objects.filter(reproduced_from=made.job).exists()
