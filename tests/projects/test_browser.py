"""A researcher's day in a real Chromium, on a laptop (1366 px) and on a phone (390 px): the
dashboard says what is running and offers Submit, the project page leads with its jobs, the
navigation folds on a phone, and removing a member or revoking a token asks first."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page, expect

from clusterjobs.models import JobStatus
from portal.accounts.actions import create_token
from portal.accounts.models import ApiToken
from portal.projects.models import Membership
from tests.clusterjobs.factories import JobFactory
from tests.conftest import free_port

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = {"laptop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(autouse=True)
def _mlflow_down(settings):
    settings.MLFLOW_TRACKING_URI = f"http://127.0.0.1:{free_port()}"


def sign_in(page: Page, live_server, user) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


def fits(page: Page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("size", SIZES)
def test_the_dashboard_says_what_runs_and_offers_submit(personas, live_server, page: Page, size):
    page.set_viewport_size(SIZES[size])
    now = timezone.now()
    JobFactory(
        project=personas.project,
        submitter=personas.bob,
        status=JobStatus.RUNNING,
        name="resnet-50",
        started_at=now - timedelta(minutes=75),
    )
    JobFactory(project=personas.project, submitter=personas.bob, status=JobStatus.FAILED, name="bert-small")
    sign_in(page, live_server, personas.bob)
    page.goto(f"{live_server.url}/")

    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    submit = page.get_by_role("button", name="Submit a job")
    expect(submit).to_be_visible()
    running = page.locator("#running-jobs")
    expect(running.get_by_role("link", name="resnet-50")).to_be_visible()
    expect(running.get_by_text("running", exact=True)).to_be_visible()
    expect(running.get_by_text("1 h 15 min")).to_be_visible()
    expect(page.locator("#recent-jobs").get_by_text("failed", exact=True)).to_be_visible()
    expect(page.locator("#count-running")).to_have_text("1")
    expect(page.locator("#project-genomics progress").first).to_be_visible()
    assert fits(page)

    # The navigation: every link on a laptop; behind a Menu button on a phone.
    jobs_link = page.get_by_role("navigation", name="Main").get_by_role("link", name="Jobs")
    if size == "phone":
        expect(jobs_link).to_be_hidden()
        page.get_by_role("button", name="Menu").click()
        expect(page.get_by_role("button", name="Menu")).to_have_attribute("aria-expanded", "true")
    expect(jobs_link).to_be_visible()
    expect(page.get_by_role("link", name="My projects")).to_have_attribute("aria-current", "page")

    submit.click()
    expect(page).to_have_url(f"{live_server.url}/projects/genomics/jobs/new/")
    expect(page.locator("nav.crumbs")).to_contain_text("Genomics")
    page.wait_for_load_state("networkidle")  # the form's quota preview, before the database is emptied
    assert fits(page)
    page.goto("about:blank")


@pytest.mark.parametrize("size", SIZES)
def test_the_project_page_leads_with_jobs_and_keeps_members_below(personas, live_server, page: Page, size):
    page.set_viewport_size(SIZES[size])
    job = JobFactory(project=personas.project, submitter=personas.bob, status=JobStatus.SUCCEEDED, name="vit")
    sign_in(page, live_server, personas.bob)
    page.goto(f"{live_server.url}/projects/genomics/")
    expect(page.get_by_role("heading", name="Genomics", level=1)).to_be_visible()
    expect(page.get_by_role("button", name="Submit a job")).to_be_visible()
    jobs = page.locator("#project-jobs")
    expect(jobs.get_by_role("link", name="vit")).to_be_visible()
    expect(jobs.get_by_text("succeeded", exact=True)).to_be_visible()
    jobs_top = jobs.bounding_box()["y"]
    assert jobs_top < page.locator("#members").bounding_box()["y"]
    assert jobs_top < page.locator("#about").bounding_box()["y"]
    assert fits(page)

    jobs.get_by_role("link", name="vit").click()
    expect(page).to_have_url(f"{live_server.url}/jobs/{job.pk}/")
    crumbs = page.locator("nav.crumbs li")
    expect(crumbs).to_have_text(["Projects", "Genomics", "Jobs", "vit"])
    expect(page.locator("#job-status")).to_have_text("succeeded")
    assert fits(page)


def test_removing_a_member_asks_first(personas, live_server, page: Page):
    sign_in(page, live_server, personas.alice)
    page.goto(f"{live_server.url}/projects/genomics/")
    remove = page.locator("#member-vera").get_by_role("button", name="Remove")
    page.once("dialog", lambda dialog: dialog.dismiss())
    remove.click()
    page.wait_for_load_state("networkidle")
    assert Membership.objects.filter(project=personas.project, user=personas.vera).exists()
    page.once("dialog", lambda dialog: dialog.accept())
    remove.click()
    expect(page.locator("#member-vera")).to_have_count(0)
    assert not Membership.objects.filter(project=personas.project, user=personas.vera).exists()


def test_revoking_a_token_asks_first(personas, live_server, page: Page):
    create_token(personas.bob, "laptop")
    sign_in(page, live_server, personas.bob)
    page.goto(f"{live_server.url}/accounts/profile/")
    revoke = page.get_by_role("row", name="laptop").get_by_role("button", name="Revoke")
    messages = []
    page.once("dialog", lambda dialog: messages.append(dialog.message) or dialog.dismiss())
    revoke.click()
    page.wait_for_load_state("networkidle")
    assert "laptop" in messages[0]
    assert ApiToken.objects.filter(user=personas.bob, name="laptop", revoked_at__isnull=True).exists()
    page.once("dialog", lambda dialog: dialog.accept())
    revoke.click()
    expect(page.get_by_role("row", name="laptop")).to_have_count(0)
