"""What the browser tests check on every page they visit: axe-core (vendored under
static/vendor/axe-core) finds no violation of serious or critical impact, and the page is no wider
than its window. axe-core is added as an inline script: the test's browser context must bypass the
Content-Security-Policy (``browser_context_args`` with ``bypass_csp``)."""

from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Page

AXE = Path(settings.BASE_DIR) / "static" / "vendor" / "axe-core" / "axe.min.js"

AXE_RUN = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations
    .filter((v) => ["serious", "critical"].includes(v.impact))
    .map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
}"""


@pytest.fixture
def browser_context_args(browser_context_args):
    """Imported by a test module whose pages axe-core checks: it runs as an inline script, which
    the portal's Content-Security-Policy refuses (its own test is tests/portal/test_csp.py)."""
    return {**browser_context_args, "bypass_csp": True}


WIDTH = "() => [document.documentElement.scrollWidth, window.innerWidth]"


def problems(page: Page) -> list[str]:
    """What is wrong with the page as it stands: too wide for its window, axe's violations."""
    page.wait_for_load_state("networkidle")
    found = []
    scroll_width, inner_width = page.evaluate(WIDTH)
    if scroll_width > inner_width:
        found.append(f"{scroll_width} px wide in a {inner_width} px window")
    page.add_script_tag(path=str(AXE))
    return found + page.evaluate(AXE_RUN)
