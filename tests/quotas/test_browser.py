"""In a real Chromium: the quota bars on the project page, the plot on the quota page, and the
submission preview answering as the resources change."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page, expect

from clusterjobs.models import JobStatus

from .conftest import make_job, set_quota


def sign_in(page: Page, live_server, user) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("mid_period")  # three hours of use count in the current budget period
def test_quota_bars_plot_and_submission_preview(personas, live_server, page: Page):
    project, bob = personas.project, personas.bob
    set_quota(project, max_gpus=4, gpu_hours_per_period=Decimal(20), max_time_limit_minutes=600)
    make_job(project, bob, status=JobStatus.RUNNING, gpus=2, started_at=timezone.now() - timedelta(hours=3))
    sign_in(page, live_server, bob)

    page.goto(f"{live_server.url}/projects/genomics/")
    gpus = page.locator("#quota-gpus")
    expect(gpus.locator("progress")).to_be_visible()
    expect(gpus.locator("progress")).to_have_attribute("value", "50")
    expect(gpus.locator(".used")).to_have_text("2")
    expect(page.locator("#quota-gpu_hours .remaining")).to_have_text("14.00")

    page.locator("#quota-link").click()
    expect(page).to_have_url(f"{live_server.url}/projects/genomics/quota/")
    # The plot is drawn by a deferred script once the page has loaded: wait for it, as a reader would.
    page.wait_for_function(
        "() => window.Chart && Chart.getChart(document.getElementById('usage-chart')) !== undefined",
        timeout=10_000,
    )

    preview = page.locator("#preview")
    preview.get_by_label("GPUs").fill("1")
    preview.get_by_label("time limit (minutes)").fill("120")
    expect(page.locator("#preview-outcome [data-outcome]")).to_have_attribute("data-outcome", "starts")
    expect(page.locator("#preview-outcome")).to_contain_text("2.00 GPU-hours")

    preview.get_by_label("GPUs").fill("3")  # 2 held + 3 > 4: fits the quota, not the free share
    preview.get_by_label("time limit (minutes)").fill("60")
    expect(page.locator("#preview-outcome [data-outcome]")).to_have_attribute("data-outcome", "waits")
    expect(page.locator("#preview-outcome")).to_contain_text("Waits for quota")

    preview.get_by_label("GPUs").fill("4")
    preview.get_by_label("time limit (minutes)").fill("300")  # 20 GPU-hours: more than is left
    expect(page.locator("#preview-outcome [data-outcome]")).to_have_attribute("data-outcome", "rejected")
    expect(page.locator("#preview-outcome")).to_contain_text("are left")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_job_form_shows_the_quota_preview(personas, live_server, page: Page):
    set_quota(personas.project, max_gpus=2, gpu_hours_per_period=Decimal(10))
    sign_in(page, live_server, personas.bob)
    page.goto(f"{live_server.url}/projects/genomics/jobs/new/")
    outcome = page.locator("#quota-preview [data-outcome]")
    expect(outcome).to_have_attribute("data-outcome", "starts")
    page.locator("#job-form").get_by_label("GPUs").fill("3")
    # Not green, and why: the same limit the field's help cites.
    expect(outcome).to_have_attribute("data-outcome", "invalid")
    expect(page.locator("#quota-preview")).to_contain_text("At most 2 GPUs for one job here.")
