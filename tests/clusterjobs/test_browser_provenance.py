"""In a real Chromium, at desktop and phone widths: from a model version's page to its provenance
(commit linked to its forge, image digest, data versions, parameters, the job), checked by axe-core
and for width; then the Reproduce button, confirmed, opens the new job, which names its original."""

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from clusterjobs.models import Job
from tests.browser import browser_context_args, problems  # noqa: F401 - axe-core needs the CSP bypassed
from tests.experiments.test_browser import _log_in

from .provenance_setup import COMMIT, DIGEST, made_job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(("width", "height"), [(1366, 768), (390, 844)])
def test_provenance_page_and_reproduce(page, live_server, personas, mlflow_uri, settings, width, height):
    cache.clear()
    settings.TALLER_GIT_TRUSTED_HOSTS = ["github.com"]  # no name lookups in tests
    made = made_job(personas.project, personas.bob, mlflow_uri=mlflow_uri)
    page.set_viewport_size({"width": width, "height": height})
    _log_in(page, live_server, personas.bob)
    page.goto(f"{live_server.url}/projects/genomics/models/classifier/versions/{made.version}/")
    page.locator("#version-provenance").click()

    expect(page.locator("h1")).to_contain_text(f"{made.model} version {made.version}")
    # The run's code, data and parameters come in as a fragment once the page is shown.
    expect(page.locator("#run-part-loading")).to_have_count(0)
    expect(page.locator("#code-commit a")).to_have_attribute(
        "href", f"https://github.com/lab/genomics-train/commit/{COMMIT}"
    )
    expect(page.locator("#image-digest")).to_contain_text(DIGEST)
    expect(page.locator("#data-versions")).to_contain_text("cells.csv")
    expect(page.locator("#parameters")).to_contain_text("0.01")
    expect(page.locator("#chain-job")).to_contain_text(f"job {made.job.pk}: train")
    expect(page.locator("#gpu-hours")).to_have_text("1.5")
    found = problems(page)
    assert found == [], "\n".join(found)

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#reproduce").click()
    expect(page.locator("#job-reproduces")).to_contain_text(f"job {made.job.pk}")
    new = Job.objects.get(reproduced_from=made.job)
    assert page.url.endswith(f"/jobs/{new.pk}/")
    assert new.image == f"python:3.11-slim@{DIGEST}"
    page.locator("#job-provenance").click()
    expect(page.locator("#reproduced-from")).to_contain_text(f"job {made.job.pk}: train")
    found = problems(page)
    assert found == [], "\n".join(found)
    # The original job's page: the versions registered from its run come in as a fragment.
    page.goto(f"{live_server.url}/jobs/{made.job.pk}/provenance/")
    expect(page.locator("#versions-part-loading")).to_have_count(0)
    expect(page.locator("#model-versions")).to_contain_text(f"{made.model} version {made.version}")
    found = problems(page)
    assert found == [], "\n".join(found)
