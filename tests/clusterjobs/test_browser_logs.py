"""A real Chromium on a job's log: follow mode while it runs (and its end), the search in the
whole log and the download."""

import pytest
from playwright.sync_api import expect

from clusterjobs.backends import get_backend
from clusterjobs.logs import PAGE_LINES
from clusterjobs.models import JobStatus
from tests.experiments.test_browser import _log_in

from .factories import JobFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_follow_the_log_until_the_job_ends(page, live_server, personas, settings):
    settings.TALLER_EXECUTOR = "local"
    job = JobFactory(project=personas.project, status=JobStatus.RUNNING, backend="local")
    control = get_backend("local").control(job.pk)
    control.mkdir(parents=True)
    output = control / "output.log"
    output.write_text("epoch 1\n")
    _log_in(page, live_server, personas.vera)
    page.goto(f"{live_server.url}/jobs/{job.pk}/")
    expect(page.locator("#job-log")).to_contain_text("epoch 1")
    expect(page.locator("#log-follow")).to_be_checked()

    with output.open("a") as log:
        log.write("epoch 2\n")
    expect(page.locator("#job-log")).to_contain_text("epoch 2", timeout=10000)

    # Unfollowed: new lines wait for the reader.
    page.uncheck("#log-follow")
    expect(page.locator("#log")).not_to_have_attribute("hx-trigger", "every 2s")
    with output.open("a") as log:
        log.write("epoch 3\n")
    page.wait_for_timeout(3000)
    expect(page.locator("#job-log")).not_to_contain_text("epoch 3")
    page.check("#log-follow")
    expect(page.locator("#job-log")).to_contain_text("epoch 3", timeout=10000)

    # The job ends: the final log shows and the polling stops.
    job.status, job.final_log = JobStatus.SUCCEEDED, "epoch 1\nepoch 2\nepoch 3\ndone"
    job.save()
    expect(page.locator("#job-log")).to_contain_text("done", timeout=10000)
    expect(page.locator("#log-follow")).to_have_count(0)
    assert page.get_attribute("#log", "hx-trigger") is None


def test_search_the_whole_log_and_download_it(page, live_server, personas):
    lines = [f"step {n}" for n in range(1, PAGE_LINES + 50)] + ["ERROR: out of memory", "bye"]
    job = JobFactory(project=personas.project, status=JobStatus.FAILED, final_log="\n".join(lines))
    _log_in(page, live_server, personas.vera)
    page.goto(f"{live_server.url}/jobs/{job.pk}/")
    page.fill("#log-query", "out of memory")
    page.press("#log-query", "Enter")
    expect(page.locator("#log-lines tr.match")).to_have_count(1)
    expect(page.locator("#log-summary")).to_contain_text("1 line of")
    # The match leads to its place in the whole log.
    page.click("#log-lines tr.match th a")
    number = len(lines) - 1
    expect(page.locator(f"#L{number}")).to_be_in_viewport()
    expect(page.locator("#log-lines tr")).to_have_count(len(lines) - PAGE_LINES)

    with page.expect_download() as info:
        page.click("#log-download")
    download = info.value
    assert download.suggested_filename == f"taller-{job.pk}.log"
    with open(download.path()) as file:
        assert file.read() == "\n".join(lines) + "\n"
