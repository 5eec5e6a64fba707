"""A real Chromium on the run charts (desktop and phone widths), the runs table's scrolling box,
registering a model from a run, a text artifact's preview, and MLflow's printed link."""

import uuid

import pytest
from playwright.sync_api import expect

from experiments import gateway

from .conftest import log_example
from .test_browser import _log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("forget_registered_models"),
]
WIDTHS = [(1366, 768), (390, 844)]
# Enough columns that the runs table is wider than a desktop window.
WIDE_PARAMS = {f"augmentation_setting_{n}": "enabled" for n in range(5)}


@pytest.fixture
def runs(personas, physics, mlflow_uri):
    name = f"charts-{uuid.uuid4().hex[:8]}"
    return [
        log_example("genomics", name, params={"lr": lr, "opt": opt, **WIDE_PARAMS}, metrics={"acc": acc})
        for lr, opt, acc in [("0.1", "sgd", 0.61), ("0.2", "adam", 0.72), ("0.3", "sgd", 0.83)]
    ]


@pytest.mark.parametrize("width, height", WIDTHS)
def test_charts_and_the_runs_table_at_desktop_and_phone_widths(
    page, live_server, personas, runs, width, height
):
    page.set_viewport_size({"width": width, "height": height})
    _log_in(page, live_server, personas.vera)
    experiment = runs[0].experiment_id

    page.goto(f"{live_server.url}/projects/genomics/experiments/{experiment}/")
    box = page.locator("#runs .table-scroll")
    expect(box).to_be_visible()
    # The table scrolls inside its box, which stays inside the window; the run's name stays put.
    edge = box.bounding_box()
    assert edge["x"] >= 0 and edge["x"] + edge["width"] <= width
    assert box.evaluate("node => node.scrollWidth > node.clientWidth")
    name = page.locator(f'tr[data-run-id="{runs[0].run_id}"] th.run-name')
    before = name.bounding_box()["x"]
    box.evaluate("node => { node.scrollLeft = 400; }")
    assert abs(name.bounding_box()["x"] - before) < 2
    cell = page.locator(f'tr[data-run-id="{runs[0].run_id}"] td.num').first
    assert cell.get_attribute("title") == "0.61"

    page.click("#charts-link")
    page.wait_for_selector("#scatter-canvas[data-state=ready]")
    page.wait_for_selector("#parallel-canvas[data-state=ready]")
    assert page.get_attribute("#scatter-canvas", "data-points") == "3"
    assert page.get_attribute("#parallel-canvas", "data-lines") == "3"
    assert page.locator("#chart-table tbody tr").count() == 3
    for canvas in ("#scatter-canvas", "#parallel-canvas"):
        drawn = page.locator(canvas).bounding_box()
        assert drawn["width"] > 200 and drawn["x"] + drawn["width"] <= width + 1
    table = page.locator("#chart-table").locator("xpath=..").bounding_box()
    assert table["x"] + table["width"] <= width
    # Another parameter on the scatter plot: its values are categories.
    page.select_option("#chart-param", "opt")
    page.click("#chart-query button[type=submit]")
    page.wait_for_selector("#scatter-canvas[data-state=ready]")
    assert page.get_attribute("#scatter-canvas", "data-points") == "3"
    page.screenshot(path=f"/tmp/taller-charts-{width}.png", full_page=True)


def test_register_a_model_from_the_run_page(page, live_server, personas, runs):
    run = runs[0]
    _log_in(page, live_server, personas.bob)
    page.goto(f"{live_server.url}/projects/genomics/runs/{run.run_id}/")
    page.click("#register summary")
    page.wait_for_selector("#register-form")
    assert page.input_value("#register-logged") == run.logged_model_id
    name = f"browser-{uuid.uuid4().hex[:6]}"
    page.fill("#register-name", name)
    page.click("#register-button")
    page.wait_for_url(f"**/projects/genomics/models/{name}/versions/1/")
    expect(page.locator("#source-run a")).to_have_attribute("href", f"/projects/genomics/runs/{run.run_id}/")
    assert gateway.get_version("genomics", f"genomics.{name}", "1")["run_id"] == run.run_id

    # A viewer sees no such form.
    _log_in(page, live_server, personas.vera)
    page.goto(f"{live_server.url}/projects/genomics/runs/{run.run_id}/")
    expect(page.locator("#run-job")).to_be_visible()
    assert page.locator("#register").count() == 0


def test_preview_the_jobs_log_on_the_run_page(page, live_server, personas, runs):
    from mlflow import MlflowClient

    run = runs[0]
    MlflowClient(tracking_uri=gateway.base_url()).log_text(
        run.run_id, "epoch 1\nall done\n", "taller/job.log"
    )
    _log_in(page, live_server, personas.vera)
    page.goto(f"{live_server.url}/projects/genomics/runs/{run.run_id}/")
    page.click("#artifact-section summary:has-text('taller/')")
    page.click("#artifact-section a:has-text('job.log')")
    expect(page.locator("#artifact-preview pre")).to_contain_text("all done")


def test_mlflows_printed_link_opens_the_run_in_the_portal(page, live_server, personas, runs):
    run = runs[1]
    _log_in(page, live_server, personas.vera)
    page.goto(f"{live_server.url}/mlflow/#/experiments/{run.experiment_id}/runs/{run.run_id}")
    page.wait_for_url(f"{live_server.url}/projects/genomics/runs/{run.run_id}/")
    expect(page.locator("h1")).to_contain_text("genomics-run")
    # Without a run in the fragment: the page's links to the reader's experiments.
    page.goto(f"{live_server.url}/mlflow/")
    expect(page.locator("#mlflow-link-projects a")).to_have_attribute(
        "href", "/projects/genomics/experiments/"
    )
