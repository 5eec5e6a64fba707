"""The sweep page in a real Chromium: a sweep started from the form; the trials table with the
best trial marked and a link to register its model; the objective over the trials and the parallel
coordinates drawn by the runs pages' chart code; pause and "add trials" from the buttons."""

import pytest
from playwright.sync_api import expect

from sweeps.models import Sweep
from tests.experiments.test_browser import _log_in
from tests.sweeps.factories import sweep_with_trials

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_sweep_page_shows_trials_best_and_charts(page, live_server, personas):
    sweep = sweep_with_trials(personas)
    _log_in(page, live_server, personas.bob)
    page.goto(f"{live_server.url}/sweeps/{sweep.pk}/")

    expect(page.locator("#trials tbody tr")).to_have_count(3)
    expect(page.locator("#trial-2")).to_have_class("best")
    expect(page.locator("#best-trial")).to_contain_text("trial 2")
    register = page.locator("#register-best")
    expect(register).to_have_attribute("href", f"/projects/genomics/runs/{2:032x}/register/")
    expect(page.locator("#scatter-canvas")).to_have_attribute("data-state", "ready")
    expect(page.locator("#scatter-canvas")).to_have_attribute("data-points", "2")
    expect(page.locator("#parallel-canvas")).to_have_attribute("data-lines", "2")
    expect(page.locator("#trial-3")).to_contain_text("running")

    page.locator("#pause-sweep").click()
    expect(page.locator("#sweep-status")).to_have_attribute("data-status", "paused")
    page.locator("#extend-trials").fill("3")
    page.locator("#extend-sweep").click()
    expect(page.locator("#sweep-reason")).to_contain_text("extended by 3 trials by bob")
    assert Sweep.objects.get().max_trials == 7


def test_start_a_sweep_from_the_form(page, live_server, personas, mlflow_uri):
    _log_in(page, live_server, personas.bob)
    page.goto(f"{live_server.url}/projects/genomics/sweeps/")
    page.locator("#new-sweep").click()
    text = page.locator("#id_definition")
    expect(text).to_contain_text("{lr}")  # the example to start from
    text.fill(text.input_value().replace("max_parallel: 2", "max_parallel: 0"))
    page.locator("#start-sweep").click()
    expect(page.locator("#sweep-errors")).to_contain_text("max_parallel")
    text = page.locator("#id_definition")
    text.fill(text.input_value().replace("max_parallel: 0", "max_parallel: 2"))
    page.locator("#start-sweep").click()
    expect(page.locator("h1")).to_have_text("lr-search")
    expect(page.locator("#sweep-status")).to_have_attribute("data-status", "running")
    assert Sweep.objects.get().mlflow_run_id
