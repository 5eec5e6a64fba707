"""A job's token reaches its project's MLflow tracking through the proxy (tests/experiments/
test_proxy.py) and nothing else: every operation of the REST API and every page refuse it, so a
token stolen from a job (its log, its environment) gives no one the submitter's role."""

import re

import pytest
from drf_spectacular.generators import SchemaGenerator

from clusterjobs import dispatch
from clusterjobs.backends import get_backend
from clusterjobs.models import Job, JobStatus
from portal.projects.models import Membership, Role
from tests.clusterjobs.factories import JobFactory
from tests.factories import MembershipFactory, ProjectFactory

from .conftest import TokenClient


def a_real_job_token(personas, settings, httpserver) -> str:
    """Dispatch alice's job on the local backend and take its token the way its code could: from
    its environment (here, printed to its log)."""
    settings.TALLER_EXECUTOR = "local"
    # The runner asks the tracking address before the command starts: something must answer there.
    httpserver.expect_request("/mlflow/api/2.0/mlflow/runs/get").respond_with_json({"run": {}})
    settings.TALLER_JOB_TRACKING_URI = httpserver.url_for("/mlflow")
    settings.TALLER_LOCAL_POLL_SECONDS = 0.1
    job = JobFactory(
        project=personas.project,
        submitter=personas.alice,
        status=JobStatus.DISPATCHING,
        command=["python", "-c", "import os; print(os.environ['MLFLOW_TRACKING_TOKEN'])"],
        mlflow_run_id="run1",
        mlflow_experiment_id="1",
    )
    assert dispatch.dispatch(job.pk) == "submitted"
    backend = get_backend("local")
    assert backend.wait(job.pk, 60).phase == "succeeded", backend.logs(job.pk, "")
    (key,) = backend.logs(job.pk, "")
    return key


def test_a_stolen_job_token_does_not_make_an_outsider_owner(personas, settings, httpserver):
    """The finding: charlie, a member of another project, held alice's job token for genomics and
    added himself as owner of genomics."""
    MembershipFactory(project=ProjectFactory(slug="physics"), user=personas.charlie, role=Role.OWNER)
    stolen = TokenClient(a_real_job_token(personas, settings, httpserver))
    response = stolen.post("/api/v1/projects/genomics/members/", {"username": "charlie", "role": "owner"})
    assert response.status_code == 403, response.content
    assert "MLflow tracking" in response.json()["detail"]
    assert not Membership.objects.filter(project=personas.project, user=personas.charlie).exists()
    assert stolen.patch("/api/v1/projects/genomics/members/bob/", {"role": "owner"}).status_code == 403
    assert stolen.delete("/api/v1/projects/genomics/members/bob/").status_code == 403
    assert Membership.objects.get(project=personas.project, user=personas.bob).role == Role.MEMBER


def _operations() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    ]


@pytest.mark.django_db
def test_the_api_has_operations_to_try():
    """The next test tries every operation of the schema: it must find the ones that matter."""
    operations = _operations()
    assert len(operations) > 25
    for needed in (
        ("POST", "/api/v1/projects/{project_slug}/members/"),
        ("PATCH", "/api/v1/projects/{slug}/quota/"),
        ("GET", "/api/v1/jobs/"),
        ("POST", "/api/v1/jobs/{id}/cancel/"),
        ("POST", "/api/v1/projects/"),
    ):
        assert needed in operations


def test_every_api_operation_refuses_a_job_token(api, personas):
    """A site admin's job token, on its own project: the widest a job token can be."""
    MembershipFactory(project=personas.project, user=personas.root, role=Role.OWNER)
    other = JobFactory(project=personas.project, submitter=personas.bob, status=JobStatus.RUNNING)
    scoped = api("root", project=personas.project)
    values = {"slug": "genomics", "project_slug": "genomics", "username": "bob", "id": str(other.pk)}
    values["run_id"] = "0" * 32
    values.update({"name": "classifier", "version": "1", "alias": "champion", "key": "stage", "key_id": "1"})
    values["digest"] = "0" * 64
    values["job_id"] = str(other.pk)
    for method, template in _operations():
        path = re.sub(r"\{(\w+)\}", lambda match: values[match.group(1)], template)
        response = scoped.generic(method, path, "{}", content_type="application/json")
        if (method, template) == ("GET", "/api/v1/jobs/{job_id}/snapshot/"):
            # The one call a job's token may make, for its own job's snapshot alone
            # (tests/clusterjobs/test_snapshots_cluster.py): another job's is not found.
            assert response.status_code == 404, (method, path, response.status_code)
            continue
        assert response.status_code == 403, (method, path, response.status_code)
    other.refresh_from_db()
    assert other.status == JobStatus.RUNNING and Job.objects.count() == 1
    assert Membership.objects.filter(project=personas.project).count() == 4


def test_a_job_token_opens_no_page(api, personas):
    """Pages sign in with a session only: a token in the header is someone not signed in."""
    client = TokenClient(api("alice", project=personas.project).key)
    for path in ("/", "/projects/genomics/", "/accounts/profile/", "/jobs/"):
        response = client.get(path)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], path
    response = client.post("/accounts/profile/", "name=from+a+job", "application/x-www-form-urlencoded")
    assert response.status_code in (302, 403)
    assert personas.alice.api_tokens.count() == 1  # the job's own, and no new one


def test_a_personal_token_still_reaches_the_api(api, personas):
    response = api("alice").get("/api/v1/projects/genomics/members/")
    assert response.status_code == 200
