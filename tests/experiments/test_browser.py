"""A real Chromium on the runs table, the filter, the compare chart and a model version."""

import pytest
from django.conf import settings as django_settings
from django.test import Client
from playwright.sync_api import expect

from experiments import gateway

from .conftest import log_example

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _log_in(page, live_server, user) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


def test_runs_filter_compare_and_model_version_in_a_browser(page, live_server, personas, physics, mlflow_uri):
    first = log_example("genomics", params={"lr": "0.1"}, metrics={"acc": 0.6})
    second = log_example("genomics", params={"lr": "0.2"}, metrics={"acc": 0.8})
    _log_in(page, live_server, personas.bob)

    page.goto(f"{live_server.url}/projects/genomics/experiments/{first.experiment_id}/")
    page.wait_for_selector("#runs-table")
    assert page.locator(f'tr[data-run-id="{first.run_id}"]').count() == 1

    # Filter without a reload: the table is swapped in place and the URL follows.
    page.evaluate("window.__same_page = true")
    page.fill("#filter", "params.lr = '0.2'")
    page.click("#run-query button[type=submit]")
    # (Locator waits: a string predicate is eval'd in the page, which the Content-Security-Policy refuses.)
    expect(page.locator(f'tr[data-run-id="{first.run_id}"]')).to_have_count(0)
    assert page.locator(f'tr[data-run-id="{second.run_id}"]').count() == 1
    assert page.evaluate("window.__same_page") is True
    assert "filter=" in page.url

    page.fill("#filter", "params.lr >>> 1")
    page.click("#run-query button[type=submit]")
    page.wait_for_selector("#filter-error")
    assert "MLflow could not use this filter" in page.inner_text("#filter-error")

    # Compare both runs: parameters with differences marked and one chart with both histories.
    page.fill("#filter", "")
    page.click("#run-query button[type=submit]")
    page.wait_for_selector(f'tr[data-run-id="{first.run_id}"]')
    page.check(f'tr[data-run-id="{first.run_id}"] input[type=checkbox]')
    page.check(f'tr[data-run-id="{second.run_id}"] input[type=checkbox]')
    page.click("#compare-button")
    page.wait_for_selector("#compare-canvas[data-state=ready]")
    assert page.get_attribute("#compare-canvas", "data-series") == "2"
    assert page.locator("#compare-params tr.differs").count() >= 1
    page.select_option("#compare-metric", "loss")
    page.wait_for_selector("#compare-canvas[data-state=ready]")

    # A model version: set an alias without a reload.
    version = gateway.list_versions("genomics", second.model)["versions"][0]["version"]
    page.goto(f"{live_server.url}/projects/genomics/models/classifier/versions/{version}/")
    page.evaluate("window.__same_page = true")
    page.fill("#alias-form input[name=alias]", "browser-pick")
    page.click("#alias-form button[type=submit]")
    page.wait_for_selector("#aliases >> text=@browser-pick")
    assert page.evaluate("window.__same_page") is True
    assert "browser-pick" in gateway.get_version("genomics", second.model, version)["aliases"]
    page.click("#aliases li:has-text('@browser-pick') button")
    expect(page.locator("#aliases")).not_to_contain_text("@browser-pick")
