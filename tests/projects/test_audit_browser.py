"""The audit page in a real Chromium: an owner filters it (htmx swaps the results and the address
follows), downloads the filtered CSV, and the page fits a phone."""

import csv
import io

import pytest
from playwright.sync_api import Page, expect

from portal.projects.actions import record

from .test_browser import SIZES, fits, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("size", SIZES)
def test_an_owner_filters_the_audit_log_and_exports_it(personas, live_server, page: Page, size):
    page.set_viewport_size(SIZES[size])
    record(personas.bob, personas.project, "job.submit", "train", target="job 41")
    record(
        personas.alice, personas.project, "webhook.create", "chat to hooks.example.org", target="webhook 3"
    )
    record(personas.bob, personas.project, "schedule.pause", "0 2 * * *", target="schedule 5")
    sign_in(page, live_server, personas.alice)
    page.goto(f"{live_server.url}/projects/genomics/")
    page.locator("#project-audit").click()
    expect(page.get_by_role("heading", name="Audit log of Genomics")).to_be_visible()
    rows = page.locator("#audit-table tbody tr")
    expect(rows).to_have_count(3)
    assert fits(page)

    page.get_by_label("Kind").select_option("job")  # htmx: only the results are swapped
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("job 41")
    assert "kind=job" in page.url
    page.get_by_label("Who").fill("alice")
    page.get_by_label("Who").press("Enter")
    expect(page.locator("#audit-table")).to_contain_text("No event matches.")

    page.get_by_label("Kind").select_option("")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("webhook.create")
    with page.expect_download() as download:
        page.locator("#audit-export").click()
    lines = list(csv.reader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert [line[4] for line in lines[1:]] == ["webhook.create"]
    assert download.value.suggested_filename == "taller-audit-genomics.csv"
