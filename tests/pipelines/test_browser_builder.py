"""In a real Chromium: a member assembles a three-step pipeline (two trainings after one
preparation) from a template and an earlier job (found by searching the picker), sees a refusal beside its field, fixes it, sees
the YAML, and runs it; the run's page shows the three steps wired as built."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from clusterjobs.models import Job, JobTemplate
from pipelines.models import Pipeline, PipelineRun
from tests.experiments.test_browser import _log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_assemble_a_pipeline_and_run_it(page, live_server, personas, mlflow_uri):
    template = JobTemplate.objects.create(
        project=personas.project,
        title="Prepare",
        command=["python", "-c", "print('prep')"],
        cpu=Decimal("0.5"),
    )
    Job.objects.bulk_create(
        Job(project=personas.project, submitter=personas.bob, name=f"old-{i}", command=["true"])
        for i in range(12)
    )
    earlier = Job.objects.create(
        project=personas.project, submitter=personas.bob, name="train-resnet", status="succeeded",
        command=["python", "-m", "examples.train", "--epochs", "2"], env={"LR": "0.01"},
    )  # fmt: skip
    _log_in(page, live_server, personas.bob)
    page.goto(f"{live_server.url}/projects/genomics/pipelines/")
    page.locator("#build-pipeline").click()
    page.get_by_label("Pipeline name").fill("diamond")

    page.locator(f"#add-template-{template.pk}").click()
    expect(page.locator("#step-1 legend")).to_contain_text("prepare")
    # The earlier job is found by searching (Enter in the search box only refreshes the builder).
    page.locator("#job-q").fill("resnet")
    page.locator("#job-q").press("Enter")
    expect(page.locator("#job-picker li")).to_have_count(1)
    page.locator(f"#add-job-{earlier.pk}").click()
    expect(page.locator("#step-2 legend")).to_contain_text("train-resnet")
    page.locator(f"#add-job-{earlier.pk}").click()
    step3 = page.locator("#step-3")
    expect(step3).to_be_visible()
    step3.get_by_label("Step name").fill("train-other")
    # A new step waits for the one before it; the third is rewired so both trainings wait for prepare.
    step3.get_by_label("train-resnet").uncheck()
    step3.get_by_label("prepare").check()
    page.locator("#step-2").get_by_label("CPU cores").fill("99")

    page.locator("#check-pipeline").click()
    expect(page.locator("#id_step-1-cpu_error")).to_contain_text("At most")
    expect(page.locator("#id_step-0-cpu_error")).to_have_count(0)
    page.locator("#step-2").get_by_label("CPU cores").fill("1")
    page.locator("#check-pipeline").click()
    expect(page.locator("#builder-note")).to_contain_text("Valid: 3 step(s)")
    expect(page.locator("#pipeline-yaml")).to_contain_text("- name: train-other")
    expect(page.locator("#pipeline-yaml")).to_contain_text("LR: '0.01'")

    page.locator("#run-pipeline").click()
    expect(page.locator("#pipeline-graph")).to_be_visible()
    run = PipelineRun.objects.get()
    assert page.url.endswith(f"/pipelines/runs/{run.pk}/")
    wiring = {step.name: step.depends_on for step in run.steps.all()}
    assert wiring == {"prepare": [], "train-resnet": ["prepare"], "train-other": ["prepare"]}
    for name in wiring:
        expect(page.locator(f'#pipeline-graph [data-step="{name}"]')).to_have_count(1)

    # From the run's page, back into the builder to change the pipeline: the same three steps,
    # wired as built; one fewer, saved under its name.
    page.locator("#edit-pipeline").click()
    expect(page.locator("#builder-note")).to_contain_text("pipeline “diamond” is changed")
    expect(page.locator("fieldset.builder-step")).to_have_count(3)
    expect(page.locator("#step-3").get_by_label("prepare")).to_be_checked()
    expect(page.locator("#step-3").get_by_label("train-resnet")).not_to_be_checked()
    page.locator("#remove-2").click()
    expect(page.locator("fieldset.builder-step")).to_have_count(2)
    page.locator("#save-pipeline").click()
    page.wait_for_url("**/schedules/")
    saved = Pipeline.objects.get(name="diamond")
    assert [step["name"] for step in saved.definition["steps"]] == ["prepare", "train-other"]
    run.refresh_from_db()
    assert [step["name"] for step in run.definition["steps"]] == list(wiring)  # the run keeps its own
