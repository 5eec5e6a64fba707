"""In a real Chromium, at desktop and phone widths: the submission form's resources on one row
(stacked on a phone), the help and the preview citing one limit, the GPU type list, templates."""

import importlib

import pytest
from django.apps import apps
from playwright.sync_api import expect

from tests.experiments.test_browser import _log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WIDTHS = [(1366, 768), (390, 844)]
RESOURCES = ["#id_cpu", "#id_memory_gib", "#id_gpus", "#id_gpu_type"]


@pytest.mark.parametrize("width, height", WIDTHS)
def test_submit_form_at_desktop_and_phone_widths(page, live_server, personas, settings, width, height):
    # A transactional test empties the tables after itself: seed the example as the migration does.
    importlib.import_module("clusterjobs.migrations.0008_example_job_template").add_example(apps, None)
    settings.TALLER_GPU_TYPES = ["nvidia-a100", "nvidia-t4"]
    page.set_viewport_size({"width": width, "height": height})
    _log_in(page, live_server, personas.bob)
    page.goto(f"{live_server.url}/projects/genomics/jobs/new/")

    expect(page.locator("#job-templates")).to_contain_text("Example: train a small model")
    expect(page.locator("#code-source")).to_contain_text("portal's own machine")
    boxes = [page.locator(selector).bounding_box() for selector in RESOURCES]
    for box in boxes:  # nothing spills out of the window
        assert box["x"] >= 0 and box["x"] + box["width"] <= width + 1
    tops = {round(box["y"]) for box in boxes}
    if width >= 1024:
        assert len(tops) == 1, boxes  # one row
    else:
        assert len(tops) == len(RESOURCES), boxes  # stacked
    expect(page.locator("#id_gpu_type option")).to_have_text(["Any", "nvidia-a100", "nvidia-t4"])

    outcome = page.locator("#quota-preview [data-outcome]")
    expect(outcome).to_have_attribute("data-outcome", "starts")
    help_text = page.locator("#id_gpus").locator("xpath=..").locator("small").last.inner_text()
    assert help_text == "At most 1 GPU for one job here."
    page.locator("#id_gpus").fill("2")
    expect(outcome).to_have_attribute("data-outcome", "invalid")
    expect(page.locator("#quota-preview")).to_contain_text(help_text)
    expect(page.locator("#id_gpus_error")).to_have_text(help_text)
    page.locator("#id_gpus").fill("1")
    page.locator("#id_memory_gib").fill("1.5")
    expect(outcome).to_have_attribute("data-outcome", "starts")

    page.get_by_role("link", name="Example: train a small model").click()
    expect(page.locator("#id_command")).to_have_value("python -m examples.train --epochs 10")
    expect(page.locator("#id_time_limit_minutes")).to_have_value("30")
