"""Status reasons are stored in English whatever language the request that wrote them asked for
(the API and the command line show them as stored), and pages show them in the reader's language."""

import pytest
from rest_framework.test import APIClient

from clusterjobs import tasks
from clusterjobs.models import Job, JobStatus

from .factories import JobFactory

URL = "/api/v1/jobs/"


@pytest.mark.django_db
def test_a_spanish_request_stores_english_reasons_that_pages_translate(
    personas, body, mlflow_uri, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr(
        tasks.dispatch_job, "apply_async", lambda args, kwargs=None, **options: sent.append(args)
    )
    # The project's one running slot is taken: the new job waits for quota, and says so.
    quota = personas.project.quota
    quota.max_running_jobs = 1
    quota.save()
    JobFactory(project=personas.project, submitter=personas.alice, status=JobStatus.RUNNING)
    client = APIClient(HTTP_ACCEPT_LANGUAGE="es")
    client.force_authenticate(personas.bob)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    assert response.headers["Content-Language"] == "es"  # the request was answered in Spanish
    job = Job.objects.get(pk=response.json()["id"])
    assert (job.status, job.status_reason) == (JobStatus.QUEUED, "waiting for quota") and sent == []
    assert [t.reason for t in job.transitions.all()] == ["submitted by bob"]
    detail = client.get(f"{URL}{job.pk}/").json()
    assert detail["status_reason"] == "waiting for quota"
    assert [t["reason"] for t in detail["transitions"]] == ["submitted by bob"]

    # A cancel asked in Spanish is stored in English too.
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"{URL}{job.pk}/cancel/").status_code == 200
    job.refresh_from_db()
    assert (job.status, job.status_reason) == (JobStatus.CANCELLED, "cancelled by bob")
    assert client.get(f"{URL}{job.pk}/").json()["status_reason"] == "cancelled by bob"

    # The job's page, for a browser that asks for Spanish, says it in Spanish.
    page = personas.client("bob").get(job.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "cancelado por bob" in page and "enviado por bob" in page
    assert "cancelled by bob" not in page and "submitted by bob" not in page
    english = personas.client("bob").get(job.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "cancelled by bob" in english
