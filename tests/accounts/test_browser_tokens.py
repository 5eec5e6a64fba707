"""API tokens in a real Chromium, on a laptop (1366 px) and a phone (390 px): creating one
redirects (a reload neither shows the key again nor makes a second token), the key and the
ready-to-paste snippets are shown once with copy buttons that copy them, the list shows the scope
and the expiry with its zone, and revoking asks first; axe-core finds nothing serious on the way."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from portal.accounts.actions import authenticate_token
from portal.accounts.models import ApiToken
from tests.browser import browser_context_args, problems  # noqa: F401 (a fixture)
from tests.projects.test_browser import SIZES, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("size", SIZES)
def test_create_copy_and_revoke_a_token(personas, live_server, page: Page, size):
    page.set_viewport_size(SIZES[size])
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    sign_in(page, live_server, personas.bob)
    page.goto(f"{live_server.url}/accounts/profile/")
    assert problems(page) == []
    expect(page.get_by_role("row", name="No tokens yet.")).to_be_visible()

    last_day = timezone.localdate() + timedelta(days=30)
    page.get_by_label("Token name").fill("laptop")
    page.get_by_label("Expires on").fill(last_day.isoformat())
    page.get_by_label("Project").select_option(label="Genomics")
    page.get_by_role("button", name="Create token").click()

    # Redirected to the page that shows the key once.
    page.wait_for_url("**/accounts/profile/#new-token")
    key = page.locator("#new-token-key").inner_text()
    token = authenticate_token(key)
    assert token is not None and token.name == "laptop" and token.project == personas.project
    # It stops working at the end of that day: at midnight, the start of the next.
    stops = timezone.localtime(token.expires_at)
    assert (stops.date(), stops.hour, stops.minute) == (last_day + timedelta(days=1), 0, 0)
    expect(page.locator("#new-token")).to_contain_text("it will not be shown again")
    expect(page.locator("#new-token-cli")).to_have_text(f"taller login --url {live_server.url} --token {key}")
    expect(page.locator("#new-token-mlflow")).to_have_text(
        f"export MLFLOW_TRACKING_URI={live_server.url}/mlflow\nexport MLFLOW_TRACKING_TOKEN={key}"
    )
    row = page.get_by_role("row", name="laptop")
    expect(row).to_contain_text("Genomics")
    expect(row).to_contain_text(f"{stops.date().isoformat()} 00:00 UTC")  # with its zone
    assert problems(page) == []

    # Each copy button copies its text and says so.
    for button, source in [("Copy token", "#new-token-key"), ("Copy command", "#new-token-cli")]:
        page.get_by_role("button", name=button).click()
        expect(page.locator(f"button[data-copy='{source[1:]}']")).to_have_text("Copied")
        assert page.evaluate("() => navigator.clipboard.readText()") == page.locator(source).inner_text()

    # A reload makes no second token and no longer shows the key.
    page.reload()
    expect(page.locator("#new-token")).to_have_count(0)
    assert key not in page.content()
    assert ApiToken.objects.filter(user=personas.bob).count() == 1

    # Revoking asks first; dismissed, nothing happens.
    revoke = page.get_by_role("row", name="laptop").get_by_role("button", name="Revoke")
    asked = []
    page.once("dialog", lambda dialog: asked.append(dialog.message) or dialog.dismiss())
    revoke.click()
    page.wait_for_load_state("networkidle")
    assert asked == ["Revoke the token “laptop”? Scripts that use it stop working."]
    assert authenticate_token(key) is not None
    page.once("dialog", lambda dialog: dialog.accept())
    revoke.click()
    expect(page.get_by_role("row", name="laptop")).to_have_count(0)
    expect(page.get_by_text("Token “laptop” revoked.")).to_be_visible()
    assert authenticate_token(key) is None
    assert problems(page) == []
