"""Registered models in a real Chromium, on a laptop (1366 px) and a phone (390 px): from the
project's models to a version whose page links back to the run and the job that made it (and the
job page links to the run), its aliases and tags set and removed in place; a viewer reads the same
without the forms. axe-core finds nothing serious on the way."""

import uuid

import pytest
from django.utils import timezone
from mlflow import MlflowClient
from playwright.sync_api import Page, expect

from clusterjobs import runs
from clusterjobs.models import Job, JobStatus
from experiments import gateway
from experiments.actions import register_run_model
from tests.browser import browser_context_args, problems  # noqa: F401 (a fixture)
from tests.clusterjobs.factories import JobFactory

from .test_browser import _log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("forget_registered_models"),
]
WIDTHS = [(1366, 768), (390, 844)]


@pytest.fixture
def version(personas, mlflow_uri) -> tuple[Job, str]:
    """A job's run (made as its dispatch makes it) and two versions of a model from it: v1
    registered straight in MLflow, v2 from the run page's action (tagged with the job)."""
    job = JobFactory(project=personas.project, submitter=personas.bob, status=JobStatus.DISPATCHING)
    job.mlflow_experiment_id = gateway.ensure_experiment("genomics", "models-browser")
    Job.objects.filter(pk=job.pk).update(mlflow_experiment_id=job.mlflow_experiment_id)
    assert runs.start_run(job, timezone.now(), retried=False)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED)
    client = MlflowClient(tracking_uri=gateway.base_url(), registry_uri=gateway.base_url())
    client.log_text(job.mlflow_run_id, "weights", "model/weights.txt")
    name = f"net-{uuid.uuid4().hex[:6]}"
    client.create_registered_model(f"genomics.{name}", tags={gateway.PROJECT_TAG: "genomics"})
    client.create_model_version(
        f"genomics.{name}", f"runs:/{job.mlflow_run_id}/model", run_id=job.mlflow_run_id
    )
    register_run_model(personas.bob, personas.project, job.mlflow_run_id, name, artifact_path="model")
    return job, name


@pytest.mark.parametrize("width, height", WIDTHS)
def test_a_model_version_leads_back_to_its_run_and_job(
    page: Page, live_server, personas, version, width, height
):
    job, name = version
    page.set_viewport_size({"width": width, "height": height})
    _log_in(page, live_server, personas.bob)
    page.goto(f"{live_server.url}/projects/genomics/models/")
    expect(page.locator("#models")).to_contain_text(name)
    assert problems(page) == []
    page.locator("#models").get_by_role("link", name=name).click()
    versions = page.locator("#versions")
    expect(versions.get_by_role("link", name=f"#{job.pk}")).to_have_attribute("href", f"/jobs/{job.pk}/")
    expect(versions.get_by_role("link", name="the run's job")).to_be_visible()  # v1
    assert problems(page) == []
    versions.get_by_role("link", name="v2").click()

    page.wait_for_url(f"**/projects/genomics/models/{name}/versions/2/")
    expect(page.locator("h1")).to_have_text(f"{name} v2")
    run_url = f"/projects/genomics/runs/{job.mlflow_run_id}/"
    expect(page.locator("#source-run a")).to_have_attribute("href", run_url)
    expect(page.locator("#source-job a")).to_have_text(f"Job {job.pk}")
    expect(page.locator("#source-job a")).to_have_attribute("href", f"/jobs/{job.pk}/")
    expect(page.locator("hgroup time")).to_contain_text("UTC")
    assert problems(page) == []

    # Aliases and tags change in place.
    page.fill("#alias-form input[name=alias]", "champion")
    page.click("#alias-form button[type=submit]")
    expect(page.locator("#aliases")).to_contain_text("@champion")
    page.fill("#tag-form input[name=key]", "stage")
    page.fill("#tag-form input[name=value]", "review")
    page.click("#tag-form button[type=submit]")
    # The portal's own tag (the job) is shown, not offered for removal.
    portal_tag = page.locator("#version-tags tr", has_text="taller.job_id")
    expect(portal_tag).to_contain_text(str(job.pk))
    expect(portal_tag.get_by_role("button", name="Remove")).to_have_count(0)
    tag_row = page.locator("#version-tags tr", has_text="stage")
    expect(tag_row).to_contain_text("review")
    stored = gateway.get_version("genomics", f"genomics.{name}", "2")
    assert stored["aliases"] == ["champion"] and stored["tags"]["stage"] == "review"
    assert problems(page) == []
    tag_row.get_by_role("button", name="Remove").click()
    expect(page.locator("#version-tags")).not_to_contain_text("stage")
    assert "stage" not in gateway.get_version("genomics", f"genomics.{name}", "2")["tags"]

    # v1, registered outside the portal: its link finds the job of the source run when followed;
    # from the job, its run.
    page.goto(f"{live_server.url}/projects/genomics/models/{name}/versions/1/")
    expect(page.locator("#source-job a")).to_have_text("The job that made the source run")
    page.locator("#source-job a").click()
    page.wait_for_url(f"**/jobs/{job.pk}/")
    expect(page.locator("#mlflow-run")).to_have_attribute("href", run_url)
    page.locator("#mlflow-run").click()
    page.wait_for_url(f"**{run_url}")
    expect(page.locator("#run-job")).to_contain_text(str(job.pk))

    # A viewer reads the version, without the forms that change it.
    _log_in(page, live_server, personas.vera)
    page.goto(f"{live_server.url}/projects/genomics/models/{name}/versions/2/")
    expect(page.locator("#aliases")).to_contain_text("@champion")
    expect(page.locator("#alias-form")).to_have_count(0)
    expect(page.locator("#tag-form")).to_have_count(0)
    assert problems(page) == []
