"""SQL queries of the job lists (my jobs, a project's jobs, its htmx rows, GET /api/v1/jobs/) with
10 jobs against 1,000: the count must not grow with the number of jobs (ratio 1.0)."""

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clusterjobs.models import Job, JobStatus
from portal.accounts.actions import create_token
from portal.accounts.models import User
from portal.projects.models import Membership, Project, Role
from portal.quotas.actions import ensure_quota

STATUSES = [JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.SUCCEEDED, JobStatus.FAILED]


def researcher_with_jobs(username: str, count: int) -> tuple[User, Project]:
    user = User.objects.create_user(username=username, email=f"{username}@bench.example")
    project = Project.objects.create(
        slug=f"{username}-jobs",
        name=username,
        principal_investigator="Bench",
        requested_by=user,
        status=Project.Status.ACTIVE,
    )
    ensure_quota(project)
    Membership.objects.create(project=project, user=user, role=Role.MEMBER)
    now = timezone.now()
    Job.objects.bulk_create(
        Job(
            project=project,
            submitter=user,
            name=f"job {i}",
            image="python:3.11-slim",
            command=["python", "-m", "examples.train"],
            env={"SEED": str(i), "TOKEN": "secret"},
            secret_env_names=["TOKEN"],
            status=STATUSES[i % len(STATUSES)],
            created_at=now,
        )
        for i in range(count)
    )
    return user, project


def queries(user: User, project: Project) -> dict[str, int]:
    page = Client()
    page.force_login(user)
    api = Client(HTTP_AUTHORIZATION=f"Token {create_token(user, 'bench')[1]}")
    api.get("/api/v1/jobs/")  # the token's first use records last_used_at
    calls = {
        "GET /jobs/ (my jobs page)": (page, "/jobs/", {}),
        "GET /projects/<slug>/jobs/ (page)": (page, f"/projects/{project.slug}/jobs/", {}),
        "GET /projects/<slug>/jobs/ (htmx rows)": (
            page,
            f"/projects/{project.slug}/jobs/",
            {"HTTP_HX_REQUEST": "true"},
        ),
        "GET /api/v1/jobs/": (api, f"/api/v1/jobs/?project={project.slug}&status=running&status=queued", {}),
    }
    counts = {}
    for name, (client, url, headers) in calls.items():
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url, **headers)
        assert response.status_code == 200, (url, response.status_code)
        counts[name] = len(captured)
    return counts


def run() -> list[dict]:
    few = queries(*researcher_with_jobs("bench-jobs-few", 10))
    many = queries(*researcher_with_jobs("bench-jobs-many", 1000))
    return [
        {
            "name": f"{name} queries (10 vs 1,000 jobs)",
            "baseline": few[name],
            "ours": many[name],
            "ratio": many[name] / few[name],
            "target": "1.0 (same count)",
            "ok": many[name] == few[name],
        }
        for name in few
    ]
