"""Every jobs endpoint under every persona, with real API tokens: the same matrix as the pages.

Anonymous is a 401; an outsider gets a 404 for a job of a project it cannot see (a submission
naming such a project is a 400 on its `project` field, as for a project that does not exist); a
viewer reads but every write is a 403; members, owners and site admins do everything.
"""

import pytest

from clusterjobs.models import Job, JobStatus
from tests.clusterjobs.factories import JobFactory

PERSONAS = [None, "alice", "bob", "vera", "charlie", "root"]
READ = {None: 401, "alice": 200, "bob": 200, "vera": 200, "charlie": 404, "root": 200}
CANCEL = {None: 401, "alice": 200, "bob": 200, "vera": 403, "charlie": 404, "root": 200}
RERUN = {None: 401, "alice": 201, "bob": 201, "vera": 403, "charlie": 404, "root": 201}
SUBMIT = {None: 401, "alice": 201, "bob": 201, "vera": 403, "charlie": 400, "root": 201}
BODY = {
    "project": "genomics",
    "name": "permissions",
    "image": "python:3.11-slim",
    "command": ["python", "-c", "print(1)"],
}


@pytest.fixture
def job(personas):
    return JobFactory(project=personas.project, submitter=personas.bob, final_log="one\ntwo")


@pytest.mark.parametrize("who", PERSONAS)
def test_list(api, job, who):
    response = api(who).get("/api/v1/jobs/")
    if who is None:
        assert response.status_code == 401
        return
    assert response.status_code == 200
    ids = [row["id"] for row in response.json()["results"]]
    assert ids == ([] if who == "charlie" else [job.pk])


@pytest.mark.parametrize("who", PERSONAS)
@pytest.mark.parametrize("suffix", ["", "logs/"])
def test_reads(api, job, who, suffix):
    response = api(who).get(f"/api/v1/jobs/{job.pk}/{suffix}")
    assert response.status_code == READ[who], response.content
    body = response.json()
    if READ[who] == 200:
        assert body["id"] == job.pk if suffix == "" else body == {"lines": [], "complete": False}
    else:
        assert body["detail"]


@pytest.mark.parametrize("who", PERSONAS)
def test_cancel(api, job, who):
    response = api(who).post(f"/api/v1/jobs/{job.pk}/cancel/")
    assert response.status_code == CANCEL[who], response.content
    job.refresh_from_db()
    assert job.status == (JobStatus.CANCELLED if CANCEL[who] == 200 else JobStatus.QUEUED)


@pytest.mark.parametrize("who", PERSONAS)
def test_rerun(api, job, mlflow_uri, who):
    response = api(who).post(f"/api/v1/jobs/{job.pk}/rerun/")
    assert response.status_code == RERUN[who], response.content
    assert Job.objects.count() == (2 if RERUN[who] == 201 else 1)


@pytest.mark.parametrize("who", PERSONAS)
def test_submit(api, personas, mlflow_uri, who):
    response = api(who).post("/api/v1/jobs/", BODY)
    assert response.status_code == SUBMIT[who], response.content
    if SUBMIT[who] == 201:
        assert response.json()["status"] == "queued" and response.json()["project"] == "genomics"
    elif who == "charlie":
        assert response.json() == {"project": ["No such project."]}
    assert Job.objects.count() == (1 if SUBMIT[who] == 201 else 0)


def test_a_job_token_reaches_no_job(api, personas, job):
    """A running job's token (bob's, for a project of his) is refused by the jobs API, on any
    project: job code holds it, not bob."""
    from tests.factories import MembershipFactory, ProjectFactory

    other = ProjectFactory(slug="other")
    MembershipFactory(project=other, user=personas.bob)
    for project in (other, personas.project):
        scoped = api("bob", project=project)
        assert scoped.get("/api/v1/jobs/").status_code == 403
        for suffix in ("", "logs/"):
            assert scoped.get(f"/api/v1/jobs/{job.pk}/{suffix}").status_code == 403
        for action in ("cancel/", "rerun/"):
            assert scoped.post(f"/api/v1/jobs/{job.pk}/{action}").status_code == 403
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and Job.objects.count() == 1
