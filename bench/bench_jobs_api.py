"""GET /api/v1/jobs/ (50 per page, 10,000 jobs) against a bare Django view of the same 50 rows.

Both run in the same gunicorn workers on the same database, measured back to back
(bench/server.py); the API must keep at least 0.8 of the bare view's throughput (issue 17). The list's query
count must not grow with the page's content: a user with 10 jobs and one with 10,000.
"""

import requests
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clusterjobs.models import Job, JobStatus
from portal.accounts.actions import create_token
from portal.accounts.models import User
from portal.projects.models import Membership, Project, Role

from .server import gunicorn, paired, throughput

TARGET = 0.8
STATUSES = [JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED]


def researcher(username: str, jobs: int) -> User:
    """A member of two projects (one is someone else's too) holding ``jobs`` jobs between them."""
    user = User.objects.create_user(username=username, email=f"{username}@bench.example")
    projects = [
        Project.objects.create(
            slug=f"{username}-{i}",
            name=f"{username} {i}",
            principal_investigator="Bench",
            requested_by=user,
            status=Project.Status.ACTIVE,
        )
        for i in range(2)
    ]
    Membership.objects.bulk_create(Membership(project=p, user=user, role=Role.MEMBER) for p in projects)
    now = timezone.now()
    Job.objects.bulk_create(
        (
            Job(
                project=projects[i % 2],
                submitter=user,
                name=f"sweep lr={i / 10_000:.4f}",
                image="registry.example.edu/lab/train:3",
                command=["python", "-m", "examples.train", "--epochs", "20", "--lr", f"{i / 10_000:.4f}"],
                env={"SEED": str(i), "WANDB_MODE": "offline", "API_KEY": "secret"},
                secret_env_names=["API_KEY"],
                gpus=i % 2,
                status=STATUSES[i % len(STATUSES)],
                status_reason="exit code 0" if i % 5 == 2 else "",
                exit_code=0 if i % 5 == 2 else None,
                backend="kubernetes",
                mlflow_experiment_id="1",
                mlflow_run_id=f"{i:032x}",
                created_at=now - timezone.timedelta(seconds=i),
                dispatched_at=now,
                started_at=now,
            )
            for i in range(jobs)
        ),
        batch_size=2000,
    )
    return user


def list_queries(user: User) -> int:
    client = Client(HTTP_AUTHORIZATION=f"Token {create_token(user, 'bench')[1]}")
    client.get("/api/v1/jobs/")  # the token's first use records last_used_at
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/jobs/")
        assert response.status_code == 200
        assert len(response.json()["results"]) == min(50, Job.objects.visible_to(user).count())
    return len(queries)


def run() -> list[dict]:
    few = researcher("bench-api-few", 10)
    many = researcher("bench-api-many", 10_000)
    headers = {"Authorization": f"Token {create_token(many, 'bench')[1]}"}
    with gunicorn(workers=2) as url:
        ours = requests.get(f"{url}/api/v1/jobs/", headers=headers, timeout=30).json()
        bare = requests.get(f"{url}/bench/jobs/", headers=headers, timeout=30).json()
        assert len(ours["results"]) == len(bare["results"]) == 50
        for mine, theirs in zip(ours["results"], bare["results"], strict=True):
            assert mine["id"] == theirs["id"] and mine["env"] == theirs["env"], "not the same rows"
            assert mine["resources"] == theirs["resources"] and mine["project"] == theirs["project"]
        assert ours["next"], "the API's page has a link to the next one"
        baseline, ours_rate, ratio = paired(
            7,
            lambda: throughput(f"{url}/bench/jobs/", headers, seconds=1.5),
            lambda: throughput(f"{url}/api/v1/jobs/", headers, seconds=1.5),
        )
    queries_few, queries_many = list_queries(few), list_queries(many)
    return [
        {
            "name": "GET /api/v1/jobs/ throughput (50 of 10,000, 2 workers)",
            "baseline": baseline,
            "ours": ours_rate,
            "unit": "req/s",
            "ratio": ratio,
            "target": f">= {TARGET}",
            "pass": ratio >= TARGET,
        },
        {
            "name": "GET /api/v1/jobs/ queries (10 vs 10,000 jobs)",
            "baseline": queries_few,
            "ours": queries_many,
            "ratio": queries_many / queries_few,
            "target": "same count",
            "pass": queries_many == queries_few,
        },
    ]
