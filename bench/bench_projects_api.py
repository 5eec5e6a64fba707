"""GET /api/v1/projects/ (50 per page, 1,000 projects) against a bare Django view of the same rows.

The issue's target is on GET /api/v1/jobs/; this bench holds the API stack (DRF, token
authentication, throttle, pagination, serializers) to the same target on the projects list,
and checks that the list's query count does not grow with the number of projects.
"""

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portal.accounts.actions import create_token
from portal.accounts.models import User
from portal.projects.models import Membership, Project, Role

from .server import gunicorn, paired, throughput

TARGET = 0.8


def make_user(username: str, projects: int) -> User:
    """A user who is a member of ``projects`` projects of their own."""
    user = User.objects.create_user(username=username, email=f"{username}@bench.example")
    created = Project.objects.bulk_create(
        Project(
            slug=f"{username}-{i:04d}",
            name=f"{username} project {i:04d}",
            principal_investigator="Bench",
            description="A project of the bench. " * 4,
            status=Project.Status.ACTIVE,
            requested_by=user,
            created_at=timezone.now(),
        )
        for i in range(projects)
    )
    Membership.objects.bulk_create(
        Membership(project=project, user=user, role=Role.OWNER if i % 3 == 0 else Role.MEMBER)
        for i, project in enumerate(created)
    )
    return user


def list_queries(user: User) -> int:
    client = Client(HTTP_AUTHORIZATION=f"Token {create_token(user, 'bench')[1]}")
    client.get("/api/v1/projects/")  # the token's first use records last_used_at
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/projects/").status_code == 200
    return len(queries)


def run() -> list[dict]:
    few = make_user("bench-few", 10)
    many = make_user("bench-many", 1000)
    headers = {"Authorization": f"Token {create_token(many, 'bench')[1]}"}
    with gunicorn(workers=2) as url:
        import requests

        ours = requests.get(f"{url}/api/v1/projects/", headers=headers, timeout=30).json()
        bare = requests.get(f"{url}/bench/projects/", headers=headers, timeout=30).json()
        assert [p["slug"] for p in ours["results"]] == [p["slug"] for p in bare["results"]], (
            "not the same rows"
        )
        assert len(ours["results"]) == 50 and ours["count"] == bare["count"] == 1000
        baseline, ours_rate, ratio = paired(
            7,
            lambda: throughput(f"{url}/bench/projects/", headers, seconds=1.5),
            lambda: throughput(f"{url}/api/v1/projects/", headers, seconds=1.5),
        )
    queries_few, queries_many = list_queries(few), list_queries(many)
    return [
        {
            "name": "GET /api/v1/projects/ throughput (50 of 1,000, 2 workers)",
            "baseline": baseline,
            "ours": ours_rate,
            "unit": "req/s",
            "ratio": ratio,
            "target": f">= {TARGET}",
            "pass": ratio >= TARGET,
        },
        {
            "name": "GET /api/v1/projects/ queries (10 vs 1,000 projects)",
            "baseline": queries_few,
            "ours": queries_many,
            "ratio": queries_many / queries_few,
            "target": "same count",
            "pass": queries_many == queries_few,
        },
    ]
