"""SQL queries of the audit log's pages and API (a project's, for its owner; the whole log, for a
site admin) with 10 events against 10,000: the count must not grow with the log (ratio 1.0). The
events are bulk-inserted (the log is append-only: each size gets its own project and admin)."""

from datetime import timedelta

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portal.accounts.actions import create_token
from portal.accounts.models import User
from portal.projects.models import AuditEvent, Membership, Project, Role

VERBS = ["job.submit", "job.cancel", "pipeline.run", "schedule.pause", "webhook.create", "model.alias.set"]


def queries(size: int) -> dict[str, int]:
    owner = User.objects.create_user(username=f"bench-audit-owner-{size}")
    admin = User.objects.create_user(username=f"bench-audit-admin-{size}", is_staff=True, is_superuser=True)
    project = Project.objects.create(
        slug=f"bench-audit-{size}", name=f"Audit {size}", principal_investigator="B", requested_by=owner,
        status=Project.Status.ACTIVE,
    )  # fmt: skip
    Membership.objects.create(project=project, user=owner, role=Role.OWNER)
    now = timezone.now()
    AuditEvent.objects.bulk_create(
        (
            AuditEvent(
                project=project,
                actor=owner,
                actor_name=owner.username,
                verb=VERBS[i % len(VERBS)],
                kind=VERBS[i % len(VERBS)].split(".")[0],
                target=f"job {i}",
                message="bench",
                at=now - timedelta(seconds=i),
            )  # fmt: skip
            for i in range(size)
        ),
        batch_size=2000,
    )
    counts = {}
    for who, user in (("owner", owner), ("site admin", admin)):
        client = Client()
        client.force_login(user)
        client.get("/")  # the session's first use writes it
        _token, key = create_token(user, "bench")
        api = Client(HTTP_AUTHORIZATION=f"Token {key}")
        api.get("/api/v1/projects/")  # the token's first use is recorded
        pages = [
            (f"GET /projects/<slug>/audit/ ({who})", client, f"/projects/{project.slug}/audit/?kind=job"),
            (f"GET /api/v1/projects/<slug>/audit/ ({who})", api, f"/api/v1/projects/{project.slug}/audit/"),
        ]
        if who == "site admin":
            pages += [
                ("GET /audit/ (site admin)", client, "/audit/?page=2"),
                ("GET /api/v1/audit/ (site admin)", api, "/api/v1/audit/?actor=" + owner.username),
            ]
        for name, caller, url in pages:
            with CaptureQueriesContext(connection) as captured:
                response = caller.get(url)
            assert response.status_code == 200, (url, response.status_code)
            counts[name] = len(captured)
    return counts


def run() -> list[dict]:
    few, many = queries(10), queries(10_000)
    return [
        {
            "name": f"{name} queries (10 vs 10,000 events)",
            "baseline": few[name],
            "ours": many[name],
            "ratio": many[name] / few[name],
            "target": "1.0 (same count)",
            "ok": many[name] == few[name],
        }
        for name in few
    ]
