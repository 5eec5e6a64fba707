"""The pipeline pages for each persona: the project's runs, running a definition from the
browser (its refusals on the form, nothing created), a run's page with its graph and fragment,
cancel and re-run."""

import pytest

from pipelines import actions, engine
from pipelines.models import Pipeline, PipelineRun, StepRun

pytestmark = pytest.mark.django_db
DEFINITION = """name: web
steps:
  - name: a
    command: [python, -c, "print(1)"]
  - name: b
    depends_on: [a]
    command: [python, -c, "print(2)"]
"""


@pytest.fixture
def run(personas, mlflow_uri):
    data = {
        "name": "web",
        "steps": [
            {"name": "a", "command": ["true"]},
            {"name": "b", "command": ["true"], "depends_on": ["a"]},
        ],
    }
    run = actions.start_pipeline(personas.bob, personas.project, data)
    engine.submit_step(StepRun.objects.get(run=run, name="a").pk)
    return run


@pytest.mark.parametrize(("who", "status"), [("alice", 200), ("vera", 200), ("root", 200), ("charlie", 404)])
def test_the_run_page_by_persona(personas, run, who, status):
    response = personas.client(who).get(f"/pipelines/runs/{run.pk}/")
    assert response.status_code == status
    if status == 200:
        html = response.content.decode()
        assert (
            'data-step="a" data-status="submitted"' in html and 'data-step="b" data-status="waiting"' in html
        )
        assert "waiting for upstream steps" in html  # the word, not the colour alone
        assert f'href="/jobs/{StepRun.objects.get(run=run, name="a").job_id}/"' in html
        assert ('id="cancel-run"' in html) == (who != "vera")


def test_anonymous_is_sent_to_log_in(personas, run):
    response = personas.client(None).get(f"/pipelines/runs/{run.pk}/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_live_fragment_polls_while_running(personas, run):
    response = personas.client("bob").get(f"/pipelines/runs/{run.pk}/", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="live"') and 'hx-trigger="every 3s"' in html
    assert "<html" not in html


@pytest.mark.parametrize(("who", "status"), [("alice", 200), ("vera", 200), ("charlie", 404)])
def test_the_project_list(personas, run, who, status):
    response = personas.client(who).get("/projects/genomics/pipelines/")
    assert response.status_code == status
    if status == 200:
        assert f'id="pipeline-run-{run.pk}"' in response.content.decode()
        assert ('id="start-pipeline"' in response.content.decode()) == (who != "vera")


@pytest.mark.parametrize(("who", "status"), [("vera", 403), ("charlie", 404)])
def test_only_members_start_cancel_and_rerun(personas, run, who, status):
    client = personas.client(who)
    assert client.get("/projects/genomics/pipelines/new/").status_code == status
    assert client.post(f"/pipelines/runs/{run.pk}/cancel/").status_code == status
    assert client.post(f"/pipelines/runs/{run.pk}/rerun/").status_code == status
    assert PipelineRun.objects.get(pk=run.pk).status == "running"


def test_start_from_the_browser(personas, mlflow_uri):
    client = personas.client("bob")
    page = client.get("/projects/genomics/pipelines/new/")
    assert page.status_code == 200 and "name: train-and-evaluate" in page.content.decode()
    response = client.post("/projects/genomics/pipelines/new/", {"definition": DEFINITION})
    run = PipelineRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/pipelines/runs/{run.pk}/"


def test_a_refused_definition_stays_on_the_form(personas):
    client = personas.client("bob")
    response = client.post(
        "/projects/genomics/pipelines/new/", {"definition": DEFINITION.replace("[a]", "[zz]")}
    )
    assert response.status_code == 200
    assert "Step “b” depends on “zz”, which is not a step of this pipeline." in response.content.decode()
    assert not Pipeline.objects.exists()


def test_cancel_and_rerun_from_the_page(personas, run):
    client = personas.client("alice")
    response = client.post(f"/pipelines/runs/{run.pk}/cancel/")
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == "cancelled"
    engine.job_ended(StepRun.objects.get(run=run, name="a").job_id)
    page = client.get(f"/pipelines/runs/{run.pk}/").content.decode()
    assert 'id="rerun-all"' in page and 'id="rerun-failed"' in page
    response = client.post(f"/pipelines/runs/{run.pk}/rerun/", {"from_failed": "1"})
    new = PipelineRun.objects.exclude(pk=run.pk).get()
    assert response["Location"] == f"/pipelines/runs/{new.pk}/" and new.rerun_of_id == run.pk
