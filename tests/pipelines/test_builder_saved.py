"""Changing a saved pipeline: loaded into the builder (or, when the builder cannot show it whole,
into the YAML page), each step as saved, its secret variables left out and said so; saved again
under its name, the pipeline is changed. Who may open it, and from where (a run's page)."""

import html as html_lib
import re

import pytest

from pipelines import actions, definition, engine
from pipelines.models import Pipeline, StepRun
from portal.projects.models import Project

from ..factories import ProjectFactory
from .test_builder import URL, fields, post

pytestmark = pytest.mark.django_db
YAML_URL = "/projects/genomics/pipelines/new/"

# Steps listed before the step they wait for, as a definition may: the builder shows each after
# those it waits for.
SAVED = {
    "name": "nightly",
    "experiment": "genomics-nightly",
    "steps": [
        {
            "name": "evaluate",
            "depends_on": ["train", "prepare"],
            "image": "python:3.11-slim",
            "command": ["python", "-c", "print('it is done')"],
            "resources": {"cpu": "0.5", "memory_mib": 1024, "gpus": 0},
            "time_limit_minutes": 30,
        },
        {
            "name": "prepare",
            "image": "python:3.11-slim",
            "command": ["python", "-c", "print('prep')"],
            "env": {"SEED": "1"},
            "resources": {"cpu": "1", "memory_mib": 2048, "gpus": 0},
            "time_limit_minutes": 60,
            "experiment": "default",
        },
        {
            "name": "train",
            "depends_on": ["prepare"],
            "retries": 2,
            "retry_delay_seconds": 10,
            "image": "python:3.11-slim",
            "command": ["python", "-m", "examples.train", "--epochs", "3"],
            "env": {"LR": "0.1", "API_KEY": "hunter2"},
            "secret_env": ["API_KEY"],
            "resources": {"cpu": "2", "memory_mib": 3072, "gpus": 0},
            "time_limit_minutes": 90,
        },
    ],
}


@pytest.fixture
def saved(personas, mlflow_uri) -> Pipeline:
    pipeline, _checked = actions.define_pipeline(personas.bob, personas.project, SAVED)
    return pipeline


def steps_by_name(data: dict) -> dict:
    """The steps by name; what each waits for as a set (the builder ticks boxes in step order)."""
    return {
        step["name"]: {**step, "depends_on": sorted(step["depends_on"])} if "depends_on" in step else step
        for step in data["steps"]
    }


def definition_shown(text: str) -> str:
    """The YAML page's text box, as the browser shows it."""
    return html_lib.unescape(re.search(r"<textarea[^>]*>(.*?)</textarea>", text, re.S).group(1))


@pytest.mark.parametrize(("who", "status"), [("alice", 200), ("bob", 200), ("root", 200), ("vera", 403), ("charlie", 404)])  # fmt: skip
def test_opening_a_saved_pipeline_by_persona(personas, saved, who, status):
    client = personas.client(who)
    for url in (URL, YAML_URL):
        response = client.get(f"{url}?pipeline={saved.pk}")
        assert response.status_code == status
        assert ("hunter2" in response.content.decode()) is False


def test_only_the_projects_own_pipelines_open(personas, saved):
    elsewhere = ProjectFactory(slug="elsewhere", requested_by=personas.bob)
    Project.objects.filter(pk=elsewhere.pk).update(status="active")
    theirs = Pipeline.objects.create(
        project=elsewhere, name="theirs", definition=SAVED, created_by=personas.bob
    )
    client = personas.client("bob")
    for url in (URL, YAML_URL):
        assert client.get(f"{url}?pipeline={theirs.pk}").status_code == 404  # bob's, but not of genomics
        assert client.get(f"{url}?pipeline=nightly").status_code == 404
        assert client.get(f"{url}?pipeline=").status_code == 404


def test_the_builder_shows_it_and_saves_it_back(personas, saved):
    client = personas.client("bob")
    page = client.get(f"{URL}?pipeline={saved.pk}")
    text = page.content.decode()
    assert "pipeline “nightly” is changed" in text
    assert "The secret variables of step “train” were left out" in text and "API_KEY" in text
    assert "hunter2" not in text
    data = fields(page)
    assert (data["name"], data["experiment"], data["steps"]) == (["nightly"], ["genomics-nightly"], ["3"])
    names = [data[f"step-{i}-name"][0] for i in range(3)]
    assert names == ["prepare", "train", "evaluate"]  # each after what it waits for
    keys = {data[f"step-{i}-key"][0]: names[i] for i in range(3)}
    assert [keys[key] for key in data["step-2-depends_on"]] == ["prepare", "train"]
    assert [keys[key] for key in data["step-1-depends_on"]] == ["prepare"]
    assert "step-0-depends_on" not in data
    assert (data["step-1-retries"], data["step-1-retry_delay_seconds"]) == (["2"], ["10"])
    assert data["step-1-env"] == ["LR=0.1"] and data["step-1-memory_gib"] == ["3"]
    assert data["step-0-experiment"] == ["default"] and data["step-2-experiment"] == [""]

    saved_again = post(client, page, save="1")
    assert saved_again.status_code == 302
    after = Pipeline.objects.get()  # the same one: saved under its name
    assert after.pk == saved.pk and after.updated_at > saved.updated_at
    expected = steps_by_name(definition.check(personas.bob, personas.project, SAVED).as_json())
    expected["train"] = {**expected["train"], "env": {"LR": "0.1"}, "secret_env": []}
    got = steps_by_name(after.definition)
    got["train"].setdefault("secret_env", [])
    assert got == expected  # every field as saved, but the secret left out


def test_renamed_it_is_a_new_pipeline(personas, saved):
    client = personas.client("bob")
    page = client.get(f"{URL}?pipeline={saved.pk}")
    assert post(client, page, name="nightly-2", save="1").status_code == 302
    assert sorted(Pipeline.objects.values_list("name", flat=True)) == ["nightly", "nightly-2"]
    assert Pipeline.objects.get(name="nightly").definition == saved.definition


@pytest.mark.parametrize(
    "source", [{"dvc": ["data/train.csv"]}, {"commit": "a" * 40}, {"snapshot": "3"}], ids=str
)
def test_what_the_builder_cannot_show_goes_to_the_yaml(personas, saved, source):
    stored = {**SAVED, "steps": [*SAVED["steps"][1:], {**SAVED["steps"][0], "source": {"git": "https://git.example.edu/x.git", "ref": "main", **source}}]}  # fmt: skip
    Pipeline.objects.filter(pk=saved.pk).update(definition=stored)
    client = personas.client("bob")
    response = client.get(f"{URL}?pipeline={saved.pk}")
    assert response.status_code == 302 and response["Location"] == f"{YAML_URL}?pipeline={saved.pk}"
    page = client.get(response["Location"])
    text = page.content.decode()
    assert "has what the builder does not show" in text
    yaml_text = definition_shown(text)
    shown = steps_by_name(definition.parse(yaml_text))
    assert shown["evaluate"]["source"] == stored["steps"][2]["source"]  # nothing of it lost


def test_the_yaml_page_holds_it_without_its_secrets(personas, saved):
    page = personas.client("bob").get(f"{YAML_URL}?pipeline={saved.pk}")
    text = page.content.decode()
    assert "hunter2" not in text and "The secret variables of step “train” were left out" in text
    yaml_text = definition_shown(text)
    shown = definition.parse(yaml_text)
    assert (shown["name"], shown["experiment"]) == ("nightly", "genomics-nightly")
    steps = steps_by_name(shown)
    assert steps["train"]["env"] == {"LR": "0.1"} and "secret_env" not in steps["train"]
    assert "depends_on" not in steps["prepare"] and "retries" not in steps["prepare"]  # only what it says
    assert (steps["train"]["retries"], steps["train"]["retry_delay_seconds"]) == (2, 10)
    # Checked as the API would, it is the saved pipeline but the secret.
    again = steps_by_name(definition.check(personas.bob, personas.project, shown).as_json())
    before = steps_by_name(saved.definition)
    before["train"] = {**before["train"], "env": {"LR": "0.1"}, "secret_env": []}
    again["train"].setdefault("secret_env", [])
    assert again == before


@pytest.mark.parametrize(("who", "links"), [("bob", True), ("alice", True), ("vera", False)])
def test_a_runs_page_links_to_changing_its_pipeline(personas, saved, who, links):
    run = actions.start_pipeline(personas.bob, personas.project, {**SAVED, "steps": SAVED["steps"][1:2]})
    engine.submit_step(StepRun.objects.get(run=run).pk)
    text = personas.client(who).get(f"/pipelines/runs/{run.pk}/").content.decode()
    assert (f'href="{URL}?pipeline={run.pipeline_id}"' in text) is links
    assert (f'href="{YAML_URL}?pipeline={run.pipeline_id}"' in text) is links
