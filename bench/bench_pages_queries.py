"""SQL queries of the dashboard, a project page, its quota page and (site admins) the usage
overview of every project with 10 rows against 1,000 (projects, members, jobs): the count must not grow with the number of rows (ratio 1.0). MLflow is pointed at
an address where nothing listens, so the headline metrics' one call fails at once and costs no
query either way."""

from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.conftest import free_port
from tests.projects.pages_data import researcher_with_rows


def queries(username: str, count: int, admin: bool) -> dict[str, int]:
    user, project = researcher_with_rows(username, count)
    if admin:
        user.is_superuser = user.is_staff = True
        user.save()
    client = Client()
    client.force_login(user)
    client.get("/")  # the session's first use writes it
    who = "site admin" if admin else "researcher"
    counts = {}
    pages = [
        (f"GET / (dashboard, {who})", "/"),
        (f"GET /projects/<slug>/ ({who})", f"/projects/{project.slug}/"),
        (f"GET /projects/<slug>/quota/ ({who})", f"/projects/{project.slug}/quota/"),
    ]
    if admin:
        pages.append(("GET /quotas/ (usage overview, site admin)", "/quotas/"))
    for name, url in pages:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        counts[name] = len(captured)
    return counts


def run() -> list[dict]:
    settings.MLFLOW_TRACKING_URI = f"http://127.0.0.1:{free_port()}"
    rows = []
    for admin in (False, True):
        few = queries(f"bench-pages-few-{admin:d}", 10, admin)
        many = queries(f"bench-pages-many-{admin:d}", 1000, admin)
        rows += [
            {
                "name": f"{name} queries (10 vs 1,000 projects, members, jobs)",
                "baseline": few[name],
                "ours": many[name],
                "ratio": many[name] / few[name],
                "target": "1.0 (same count)",
                "ok": many[name] == few[name],
            }
            for name in few
        ]
    return rows
