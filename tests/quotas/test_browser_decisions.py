"""A site admin's decisions in a real Chromium, on a laptop (1366 px) and a phone (390 px):
approving a project with its quota in one step, and an owner's quota request from asking to its
approval, as each person sees them (the banner, the request's labels, the quota's history); axe-core
finds nothing serious on the way."""

import pytest
from playwright.sync_api import Page, expect

from portal.projects.models import Project, Role
from portal.quotas.models import QuotaRequest
from tests.browser import browser_context_args, problems  # noqa: F401 (a fixture)
from tests.factories import MembershipFactory, ProjectFactory
from tests.projects.test_browser import SIZES, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("size", SIZES)
def test_a_site_admin_approves_a_project_with_its_quota(personas, live_server, page: Page, size):
    astro = ProjectFactory(
        slug="astro", name="Astro", status=Project.Status.PENDING, requested_by=personas.alice
    )
    MembershipFactory(project=astro, user=personas.alice, role=Role.OWNER)  # as registering makes it
    page.set_viewport_size(SIZES[size])
    sign_in(page, live_server, personas.root)
    page.goto(f"{live_server.url}/")
    expect(page.locator("#admin-review .number")).to_have_text("1")
    page.locator("#admin-review a").click()
    pending = page.locator("#pending-astro")
    expect(pending).to_contain_text("requested by alice")
    assert problems(page) == []

    pending.get_by_label("maximum concurrent GPUs").fill("3")
    pending.get_by_label("GPU-hours per period").fill("120")
    pending.get_by_label("Reason").first.fill("a telescope's worth")
    pending.get_by_role("button", name="Approve with this quota").click()

    expect(page.get_by_text("“Astro” approved.")).to_be_visible()
    expect(page.locator("#pending-astro")).to_have_count(0)
    decided = page.get_by_role("row", name="Astro")
    expect(decided).to_contain_text("root")
    expect(decided).to_contain_text("UTC")  # when, with its zone
    project = Project.objects.get(slug="astro")
    assert project.status == Project.Status.ACTIVE
    assert (project.quota.max_gpus, project.quota.gpu_hours_per_period) == (3, 120)
    assert problems(page) == []

    # The owner reads the decision and the quota it came with.
    sign_in(page, live_server, personas.alice)
    page.goto(f"{live_server.url}/projects/astro/")
    expect(page.locator("#decision")).to_contain_text("A site admin approved this project on ")
    expect(page.locator("#decision time")).to_contain_text("UTC")
    expect(page.locator("#decision")).to_contain_text("a telescope's worth")
    page.goto(f"{live_server.url}/projects/astro/quota/")
    expect(page.locator("#history")).to_contain_text("Maximum concurrent GPUs")
    expect(page.locator("#history")).to_contain_text("a telescope's worth")
    assert problems(page) == []


@pytest.mark.parametrize("size", SIZES)
def test_an_owner_asks_for_more_and_a_site_admin_approves(personas, live_server, page: Page, size):
    page.set_viewport_size(SIZES[size])
    sign_in(page, live_server, personas.alice)
    page.goto(f"{live_server.url}/projects/genomics/quota/")
    page.locator("#ask summary").click()
    form = page.locator("#request-form")
    form.get_by_label("maximum concurrent GPUs").fill("8")
    form.get_by_label("Why does the project need it?").fill("a larger model")
    assert problems(page) == []
    form.get_by_role("button", name="Send the request").click()

    expect(page.get_by_text("Request sent. A site admin will decide on it.")).to_be_visible()
    asked = QuotaRequest.objects.get(project=personas.project)
    row = page.locator(f"#request-{asked.pk}")
    expect(row).to_contain_text("Maximum concurrent GPUs: 8")  # the label, not max_gpus
    expect(row).to_contain_text("pending")
    expect(row.locator("time")).to_contain_text("UTC")
    expect(row.get_by_role("button", name="Approve")).to_have_count(0)  # an owner cannot decide
    assert problems(page) == []

    sign_in(page, live_server, personas.root)
    page.goto(f"{live_server.url}/")
    expect(page.locator("#admin-requests .number")).to_have_text("1")
    page.locator("#admin-requests a").click()
    waiting = page.locator("#quota-requests + div table")
    expect(waiting).to_contain_text("Maximum concurrent GPUs: 8")
    waiting.get_by_role("link", name="Genomics").click()
    page.wait_for_url("**/projects/genomics/quota/#requests")
    row.get_by_label("Reason").fill("granted for the term")
    row.get_by_role("button", name="Approve").click()
    expect(page.get_by_text("Request approved; the quota changed.")).to_be_visible()
    expect(row).to_contain_text("approved")
    expect(row).to_contain_text("granted for the term")
    expect(page.locator("#history")).to_contain_text("Maximum concurrent GPUs")
    personas.project.quota.refresh_from_db()
    assert personas.project.quota.max_gpus == 8
    assert problems(page) == []
