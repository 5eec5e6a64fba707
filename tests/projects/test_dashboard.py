"""The dashboard answers "what is running?": my running and recent jobs with status, project,
duration and run; my projects with their quota use; a Submit button; site admins' waiting work.
The project page leads with its jobs. Both run the same number of queries for 10 rows as for
1,000, and render when MLflow does not answer."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from clusterjobs.models import JobStatus
from portal.quotas.actions import request_quota
from tests.clusterjobs.factories import JobFactory
from tests.conftest import free_port
from tests.factories import MembershipFactory, ProjectFactory

from .pages_data import researcher_with_rows


@pytest.fixture(autouse=True)
def _mlflow_down(settings):
    """Nothing listens here: the headline metrics' one call fails at once and the page goes on."""
    settings.MLFLOW_TRACKING_URI = f"http://127.0.0.1:{free_port()}"


@pytest.mark.django_db
def test_dashboard_shows_my_running_and_recent_jobs_and_a_submit_button(personas):
    running = JobFactory(
        project=personas.project, submitter=personas.bob, status=JobStatus.RUNNING, name="resnet"
    )
    done = JobFactory(project=personas.project, submitter=personas.bob, status=JobStatus.FAILED, name="bert")
    html = personas.client("bob").get("/").content.decode()
    assert 'id="submit-job"' in html and "/projects/genomics/jobs/new/" in html
    running_part = html[html.index('id="running-jobs"') : html.index('id="recent-jobs"')]
    assert "resnet" in running_part and "running" in running_part and "bert" not in running_part
    recent_part = html[html.index('id="recent-jobs"') : html.index('id="projects"')]
    assert "bert" in recent_part and "failed" in recent_part
    assert f"/jobs/{running.pk}/" in html and f"/jobs/{done.pk}/" in html
    assert 'id="count-running">1<' in html and 'id="count-failed">1<' in html
    assert 'id="quota-genomics-gpus"' in html and "<progress" in html
    assert "Projects to review" not in html  # not a site admin


@pytest.mark.django_db
def test_a_viewer_gets_no_submit_button(personas):
    html = personas.client("vera").get("/").content.decode()
    assert "Genomics" in html and 'id="submit-job"' not in html


@pytest.mark.django_db
def test_a_non_member_sees_nothing_of_another_project(personas):
    JobFactory(project=personas.project, submitter=personas.bob, status=JobStatus.RUNNING, name="secret-run")
    ProjectFactory(slug="physics", name="Physics")
    MembershipFactory(project=personas.project.__class__.objects.get(slug="physics"), user=personas.charlie)
    html = personas.client("charlie").get("/").content.decode()
    assert "Physics" in html
    assert "Genomics" not in html and "genomics" not in html and "secret-run" not in html
    assert 'id="count-running">0<' in html


@pytest.mark.django_db
def test_a_job_of_a_project_i_left_is_no_longer_shown(personas):
    JobFactory(project=personas.project, submitter=personas.bob, status=JobStatus.RUNNING, name="old-run")
    personas.project.memberships.filter(user=personas.bob).delete()
    html = personas.client("bob").get("/").content.decode()
    assert "old-run" not in html and "Genomics" not in html


@pytest.mark.django_db
def test_site_admins_see_what_waits_for_them_with_links(personas):
    ProjectFactory(slug="waiting", name="Waiting", status="pending")
    request_quota(personas.alice, personas.project, "thesis", max_gpus=2)
    html = personas.client("root").get("/").content.decode()
    review = html[html.index('id="admin-review"') :]
    assert "/projects/review/" in review[:300] and '<span class="number">1</span>' in review[:400]
    requests = html[html.index('id="admin-requests"') :]
    assert "/quotas/#quota-requests" in requests[:300] and '<span class="number">1</span>' in requests[:400]


@pytest.mark.django_db
def test_the_dashboard_needs_a_sign_in(personas):
    response = Client().get("/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.django_db
def test_the_project_page_leads_with_its_jobs(personas):
    JobFactory(
        project=personas.project, submitter=personas.bob, status=JobStatus.SUCCEEDED, name="first-model"
    )
    html = personas.client("vera").get("/projects/genomics/").content.decode()
    assert html.index('id="project-jobs"') < html.index('id="members"') < html.index('id="about"')
    assert "first-model" in html and "succeeded" in html
    assert 'id="submit-job"' not in html  # a viewer submits nothing
    assert 'id="submit-job"' in personas.client("bob").get("/projects/genomics/").content.decode()


@pytest.mark.django_db
def test_the_approval_banner_keeps_the_note_apart_from_the_date(personas):
    from django.utils import timezone

    personas.project.__class__.objects.filter(pk=personas.project.pk).update(
        decided_at=timezone.now(), decision_reason="Funded by the national grant"
    )
    html = personas.client("bob").get("/projects/genomics/").content.decode()
    banner = html[html.index('id="decision"') : html.index("</div>", html.index('id="decision"'))]
    assert '<p class="reason">' in banner and "Funded by the national grant" in banner
    assert ". Funded" not in banner


def count_queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured)


@pytest.mark.django_db
@pytest.mark.parametrize("admin", [False, True], ids=["researcher", "site admin"])
def test_dashboard_and_project_page_run_the_same_queries_for_10_and_1000_rows(admin):
    counts = {}
    for count in (10, 1000):
        user, project = researcher_with_rows(f"rows{count}", count)
        if admin:
            user.is_superuser = user.is_staff = True
            user.save()
        client = Client()
        client.force_login(user)
        client.get("/")  # the session's first use writes it
        counts[count] = (count_queries(client, "/"), count_queries(client, f"/projects/{project.slug}/"))
    assert counts[10] == counts[1000], counts


@pytest.mark.django_db
def test_the_403_page_gives_advice_for_the_case(personas):
    admin_page = personas.client("bob").get("/projects/review/")
    assert admin_page.status_code == 403
    html = admin_page.content.decode()
    assert "site admins" in html and "project owner" not in html
    role = personas.client("vera").get("/projects/genomics/jobs/new/")
    assert role.status_code == 403
    html = role.content.decode()
    assert "does not allow this" in html and "A project owner can change your role" in html
