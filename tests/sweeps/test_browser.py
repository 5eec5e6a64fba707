"""The sweep page in a real Chromium: a sweep started from the form; the trials table with the
best trial marked and a link to register its model; the objective over the trials and the parallel
coordinates drawn by the runs pages' chart code; pause and "add trials" from the buttons."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from clusterjobs.models import JobStatus
from sweeps.models import Sweep, Trial, TrialState
from tests.clusterjobs.factories import JobFactory
from tests.experiments.test_browser import _log_in
from tests.sweeps.factories import SweepFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_sweep_page_shows_trials_best_and_charts(page, live_server, personas):
    sweep = SweepFactory(project=personas.project, created_by=personas.bob, max_trials=4)
    values = [(0.1, 0.9, 0.8), (0.7, 0.2, 0.01), (0.5, 0.5, 0.13), (0.3, 0.3, None)]
    for number, (x, y, objective) in enumerate(values, start=1):
        done = objective is not None
        job = JobFactory(
            project=personas.project,
            submitter=personas.bob,
            status=JobStatus.SUCCEEDED if done else JobStatus.RUNNING,
            mlflow_run_id=f"{number:032x}",
            started_at=timezone.now(),
        )
        Trial.objects.create(
            sweep=sweep,
            number=number,
            params={"x": x, "y": y},
            job=job,
            state=TrialState.COMPLETE if done else TrialState.ACTIVE,
            objective=objective,
        )
    _log_in(page, live_server, personas.bob)
    page.goto(f"{live_server.url}/sweeps/{sweep.pk}/")

    expect(page.locator("#trials tbody tr")).to_have_count(4)
    expect(page.locator("#trial-2")).to_have_class("best")
    expect(page.locator("#best-trial")).to_contain_text("trial 2")
    register = page.locator("#register-best")
    expect(register).to_have_attribute("href", f"/projects/genomics/runs/{2:032x}/register/")
    expect(page.locator("#scatter-canvas")).to_have_attribute("data-state", "ready")
    expect(page.locator("#scatter-canvas")).to_have_attribute("data-points", "3")
    expect(page.locator("#parallel-canvas")).to_have_attribute("data-lines", "3")
    expect(page.locator("#trial-4")).to_contain_text("running")

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
