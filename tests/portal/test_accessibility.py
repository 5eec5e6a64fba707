"""Every page of the portal, for a member and for a site admin, in a real Chromium at a phone's
width (390 px) and a laptop's (1366 px): no page is wider than its window (tables scroll inside
their own box, the navigation folds), and axe-core (vendored, static/vendor/axe-core) finds no
violation of serious or critical impact.

The pages are those of the Content-Security-Policy test, whose list is checked against the URLconf,
so a new page is checked here too."""

import pytest
from playwright.sync_api import Page

from tests.browser import AXE, AXE_RUN, WIDTH, browser_context_args  # noqa: F401 (a fixture)
from tests.portal import test_csp as csp

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

site = csp.site  # one of everything a page shows (runs, a model, a queued job, pending requests)


# What a member (bob, alice for the owner's project page) and a site admin (root) look at.
MEMBER = [(who, path) for who, path in csp.PAGES.values() if who != "root"]
ADMIN = [("root", path) for who, path in csp.PAGES.values() if who is not None]
# Django's admin and Swagger UI are others' pages; the error page is ours.
OURS_ONLY = ("/admin/", "/api/docs/", "/api/v1/")
ERRORS = [("bob", "/projects/no-such-project/"), ("bob", "/projects/review/")]  # 404, 403
# Each audience's pages in a test of their own: four tests of under a minute share the suite's
# workers better than two of nearly two minutes.
AUDIENCES = {"member": [*MEMBER, *ERRORS], "admin": ADMIN}


@pytest.mark.parametrize("audience", list(AUDIENCES))
@pytest.mark.parametrize("width", [390, 1366])
def test_every_page_fits_its_window_and_passes_axe(page: Page, live_server, personas, site, width, audience):
    page.set_viewport_size({"width": width, "height": 844 if width == 390 else 768})
    problems: dict[str, list[str]] = {}
    who_now = object()
    for who, path in AUDIENCES[audience]:
        if who != who_now:
            csp.log_in(page, live_server, getattr(personas, who) if who else None)
            who_now = who
        url = path.format(**site)
        page.goto(f"{live_server.url}{url}")
        page.wait_for_load_state("networkidle")
        found = []
        scroll_width, inner_width = page.evaluate(WIDTH)
        if scroll_width > inner_width:
            found.append(f"{scroll_width} px wide in a {inner_width} px window")
        if not url.startswith(OURS_ONLY):
            page.add_script_tag(path=str(AXE))
            found += page.evaluate(AXE_RUN)
        if found:
            problems[f"{who} {url}"] = found
    assert not problems, "\n".join(f"{where}: {found}" for where, found in problems.items())
