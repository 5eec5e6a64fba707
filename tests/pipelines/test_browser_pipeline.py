"""In a real Chromium: a run's page draws its graph with an icon and a word per step (readable
without colour), follows the run live (htmx polling), and cancels it."""

import re

import pytest
from playwright.sync_api import expect

from clusterjobs.lifecycle import move_job
from clusterjobs.models import JobStatus
from pipelines import actions, engine
from pipelines.models import StepRun
from tests.experiments.test_browser import _log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_run_page_follows_and_cancels(page, live_server, personas, mlflow_uri):
    steps = [
        {"name": "prepare", "command": ["true"]},
        {"name": "train", "command": ["true"], "depends_on": ["prepare"]},
        {"name": "broken", "command": ["true"]},
        {"name": "after-broken", "command": ["true"], "depends_on": ["broken"]},
    ]
    run = actions.start_pipeline(personas.bob, personas.project, {"name": "browser", "steps": steps})
    for name in ("prepare", "broken"):
        engine.submit_step(StepRun.objects.get(run=run, name=name).pk)
    broken = StepRun.objects.get(run=run, name="broken").job_id
    move_job(broken, JobStatus.FAILED, "exited with code 1")
    engine.job_ended(broken)

    _log_in(page, live_server, personas.bob)
    page.goto(f"{live_server.url}/pipelines/runs/{run.pk}/")
    graph = page.locator("#pipeline-graph")
    expect(graph).to_have_attribute(
        "aria-label",
        "Pipeline graph: 1 submitted, 1 waiting for upstream steps, 1 failed, 1 upstream failed.",
    )
    node = lambda name: graph.locator(f'[data-step="{name}"]')  # noqa: E731
    expect(node("broken").locator(".node-word")).to_have_text("failed")
    expect(node("after-broken").locator(".node-word")).to_have_text("upstream failed")
    # Its job as admission left it (no worker here dispatches it).
    expect(node("prepare").locator(".node-word")).to_have_text(re.compile("queued|dispatching"))
    for name in ("prepare", "train", "broken", "after-broken"):
        expect(node(name).locator("use")).to_have_count(1)  # an icon beside each word
    expect(page.locator("#step-after-broken")).to_contain_text("upstream step broken did not succeed")
    job_link = page.locator("#step-prepare a").first
    expect(job_link).to_have_attribute(
        "href", f"/jobs/{StepRun.objects.get(run=run, name='prepare').job_id}/"
    )

    # The prepare step's job ends: the page shows train starting without a reload.
    prepare = StepRun.objects.get(run=run, name="prepare").job_id
    move_job(prepare, JobStatus.DISPATCHING)
    move_job(prepare, JobStatus.SUCCEEDED)
    engine.job_ended(prepare)
    expect(node("prepare")).to_have_attribute("data-status", "succeeded", timeout=15_000)
    expect(node("train")).to_have_attribute("data-status", "starting")

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#cancel-run").click()
    expect(page.locator("#run-status")).to_contain_text("cancelled")
    expect(node("train")).to_have_attribute("data-status", "skipped")
    expect(page.locator("#rerun-failed")).to_be_visible()
