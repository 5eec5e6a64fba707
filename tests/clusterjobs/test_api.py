"""The jobs API under every persona: members see their projects' jobs, outsiders get 404s (a job
id of another project is not revealed), viewers may look but not change."""

import pytest
from rest_framework.test import APIClient

from clusterjobs.models import Job, JobStatus
from tests.factories import ProjectFactory

from .factories import JobFactory

PERSONAS = ["alice", "bob", "vera", "charlie", "root"]
SEES = {"alice": 200, "bob": 200, "vera": 200, "charlie": 404, "root": 200}
CHANGES = {"alice": 200, "bob": 200, "vera": 403, "charlie": 404, "root": 200}


def api(personas, who):
    client = APIClient()
    if who:
        client.force_authenticate(getattr(personas, who))
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("who", PERSONAS)
def test_detail(personas, genomics_job, who):
    response = api(personas, who).get(f"/api/v1/jobs/{genomics_job.pk}/")
    assert response.status_code == SEES[who]
    if response.status_code == 200:
        data = response.json()
        assert data["env"] == {"SEED": "1", "API_KEY": "••••••"}
        assert "hunter2" not in response.content.decode()
        assert data["transitions"] == [
            {
                "from_status": "",
                "to_status": "queued",
                "reason": "made by a test",
                "at": data["transitions"][0]["at"],
            }
        ]
        assert data["resources"] == {"cpu": "1.000", "memory_mib": 2048, "gpus": 0, "gpu_type": ""}


@pytest.mark.django_db
def test_anonymous_is_401(personas, genomics_job):
    assert api(personas, None).get(f"/api/v1/jobs/{genomics_job.pk}/").status_code == 401
    assert api(personas, None).get("/api/v1/jobs/").status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize("who", PERSONAS)
def test_list_shows_only_visible_jobs(personas, genomics_job, who):
    JobFactory()  # another project's job: only root sees it
    ids = [job["id"] for job in api(personas, who).get("/api/v1/jobs/").json()["results"]]
    expected = {"charlie": 0, "root": 2}.get(who, 1)
    assert len(ids) == expected
    if expected == 1:
        assert ids == [genomics_job.pk]


@pytest.mark.django_db
@pytest.mark.parametrize("who", PERSONAS)
def test_cancel_a_queued_job(personas, genomics_job, who):
    response = api(personas, who).post(f"/api/v1/jobs/{genomics_job.pk}/cancel/")
    assert response.status_code == CHANGES[who]
    genomics_job.refresh_from_db()
    if CHANGES[who] == 200:
        assert response.json()["status"] == "cancelled"
        assert genomics_job.status == JobStatus.CANCELLED
        assert genomics_job.status_reason == f"cancelled by {who}"
        assert genomics_job.finished_at is not None
    else:
        assert genomics_job.status == JobStatus.QUEUED


@pytest.mark.django_db
def test_cancel_an_ended_job_is_a_400(personas):
    job = JobFactory(project=personas.project, status=JobStatus.SUCCEEDED)
    response = api(personas, "bob").post(f"/api/v1/jobs/{job.pk}/cancel/")
    assert response.status_code == 400
    assert response.json() == {"status": ["The job has already ended (succeeded)."]}


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["vera", "charlie"])
def test_rerun_refused(personas, genomics_job, who):
    response = api(personas, who).post(f"/api/v1/jobs/{genomics_job.pk}/rerun/")
    assert response.status_code == CHANGES[who]
    assert Job.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("who", PERSONAS)
def test_logs(personas, who):
    job = JobFactory(project=personas.project, status=JobStatus.FAILED, final_log="one\ntwo\nthree")
    response = api(personas, who).get(f"/api/v1/jobs/{job.pk}/logs/?tail=2")
    assert response.status_code == SEES[who]
    if response.status_code == 200:
        assert response.json() == {"lines": ["two", "three"], "complete": True}


@pytest.mark.django_db
@pytest.mark.parametrize("tail", ["0", "x", "100000"])
def test_logs_bad_tail(personas, genomics_job, tail):
    response = api(personas, "bob").get(f"/api/v1/jobs/{genomics_job.pk}/logs/?tail={tail}")
    assert response.status_code == 400 and list(response.json()) == ["tail"]


@pytest.mark.django_db
def test_logs_of_a_queued_job_are_empty(personas, genomics_job):
    response = api(personas, "bob").get(f"/api/v1/jobs/{genomics_job.pk}/logs/")
    assert response.json() == {"lines": [], "complete": False}


@pytest.mark.django_db
def test_missing_job_is_404(personas):
    assert api(personas, "root").get("/api/v1/jobs/999999/").status_code == 404


@pytest.mark.django_db
def test_filters(personas):
    other = ProjectFactory(slug="physics")
    JobFactory(project=personas.project, submitter=personas.bob, status=JobStatus.RUNNING)
    JobFactory(project=personas.project, submitter=personas.alice, status=JobStatus.FAILED)
    JobFactory(project=other, status=JobStatus.RUNNING)
    client = api(personas, "root")

    def names(query):
        response = client.get(f"/api/v1/jobs/?{query}")
        assert response.status_code == 200, response.json()
        return len(response.json()["results"])

    assert names("project=genomics") == 2
    assert names("status=running") == 2
    assert names("status=running&status=failed&project=genomics") == 2
    assert names("submitter=alice") == 1
    assert names("created_after=2000-01-01T00:00:00Z") == 3
    assert names("created_before=2000-01-01T00:00:00Z") == 0
    bad = client.get("/api/v1/jobs/?status=exploded")
    assert bad.status_code == 400 and "status" in bad.json()
    assert client.get("/api/v1/jobs/?created_after=yesterday").status_code == 400


@pytest.mark.django_db
def test_cursor_pagination(personas):
    for _ in range(5):
        JobFactory(project=personas.project)
    client = api(personas, "bob")
    first = client.get("/api/v1/jobs/?page_size=3").json()
    assert len(first["results"]) == 3 and first["next"]
    second = client.get(first["next"]).json()
    assert len(second["results"]) == 2
    assert not {j["id"] for j in first["results"]} & {j["id"] for j in second["results"]}


@pytest.mark.django_db
def test_created_filters_take_any_iso_offset_and_refuse_times_out_of_range(personas):
    JobFactory(project=personas.project)
    client = api(personas, "bob")
    # PostgreSQL refuses offsets beyond 15:59; ISO 8601 allows them: compared in UTC.
    response = client.get("/api/v1/jobs/", {"created_after": "2000-04-30T03:43:39+17:48"})
    assert response.status_code == 200 and len(response.json()["results"]) == 1
    response = client.get("/api/v1/jobs/", {"created_before": "0123-04-30T03:43:39.527808+17:48"})
    assert response.status_code == 200 and response.json()["results"] == []
    for value in ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00"]:
        response = client.get("/api/v1/jobs/", {"created_after": value})
        assert response.status_code == 400 and list(response.json()) == ["created_after"], value


@pytest.mark.django_db
def test_the_jobs_built_by_hand_equal_what_their_declared_fields_give(personas):
    """The list builds each job directly for speed; it must answer what the declared fields say."""
    from datetime import timedelta

    from django.utils import timezone
    from rest_framework import serializers

    from clusterjobs.api.serializers import JobDetailSerializer, JobResourcesOut, JobSerializer

    now = timezone.now()
    first = JobFactory(project=personas.project, submitter=personas.bob)
    ended = JobFactory(
        project=personas.project,
        submitter=personas.alice,
        status=JobStatus.FAILED,
        status_reason="exit code 3",
        exit_code=3,
        cpu="0.5",
        gpus=1,
        gpu_type="NVIDIA-A100",
        memory_mib=4096,
        backend="local",
        image_digest="sha256:abc",
        mlflow_experiment_id="7",
        mlflow_run_id="0123456789abcdef0123456789abcdef",
        rerun_of=first,
        dispatched_at=now - timedelta(minutes=3),
        started_at=now - timedelta(minutes=2, microseconds=1),
        finished_at=now,
    )
    for job in Job.objects.filter(pk__in=[first.pk, ended.pk]):
        for serializer in (JobSerializer(job), JobDetailSerializer(job)):
            generic = serializers.ModelSerializer.to_representation(serializer, job)
            assert serializer.data == generic
            assert list(serializer.data) == list(serializer.fields)
            assert serializer.data["resources"] == JobResourcesOut(job).data
    # The list builds its page from value rows, not jobs: the same answer, job for job.
    listed = {row["id"]: row for row in api(personas, "bob").get("/api/v1/jobs/").json()["results"]}
    for job in Job.objects.filter(pk__in=[first.pk, ended.pk]):
        assert listed[job.pk] == JobSerializer(job).data
