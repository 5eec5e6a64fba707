"""In a real Chromium: a deployment's page draws its traffic charts, and a member makes a key and
sees it once."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from deployments.models import Deployment, DeploymentStatus, TrafficMinute
from tests.quotas.test_browser import sign_in


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_deployment_page_charts_its_traffic_and_makes_a_key(personas, live_server, page: Page):
    deployment = Deployment.objects.create(
        project=personas.project,
        name="digits",
        model_name="genomics.digits",
        version="1",
        serving_version="1",
        status=DeploymentStatus.RUNNING,
        backend="local",
        created_by=personas.bob,
    )
    minute = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=2)
    TrafficMinute.objects.create(deployment=deployment, minute=minute, requests=4, errors=0, l2=4)
    sign_in(page, live_server, personas.bob)
    page.goto(f"{live_server.url}/projects/genomics/deployments/digits/")
    expect(page.locator("#serving-version")).to_have_text("v1")
    for chart in ("calls-chart", "latency-chart"):
        page.wait_for_function(
            f"() => window.Chart && Chart.getChart(document.getElementById('{chart}')) !== undefined",
            timeout=10_000,
        )
    calls = page.evaluate(
        "() => Chart.getChart(document.getElementById('calls-chart')).data.datasets[0].data"
    )
    assert len(calls) == 60 and calls[-3] == 4
    expect(page.locator("#traffic-table tbody tr")).to_have_count(1)

    page.get_by_label("Name of the key").fill("demo page")
    page.get_by_role("button", name="Make a key").click()
    expect(page.locator("#new-key code")).to_contain_text("tdk_")
    page.reload()
    expect(page.locator("#new-key")).to_have_count(0)
    expect(page.locator("#key-table")).to_contain_text("demo page")
