"""A definition is checked whole before anything is created: cycles, unknown dependencies,
duplicate names, the site's step limit, and each step as a job (per-job limits, quota), each
refusal naming its step."""

import pytest
from django.core.exceptions import ValidationError

from pipelines import definition
from pipelines.models import Pipeline, PipelineRun

pytestmark = pytest.mark.django_db


def step(name, *deps, **fields):
    return {"name": name, "command": ["python", "-c", "print(1)"], "depends_on": list(deps), **fields}


def refusal(personas, data) -> dict:
    with pytest.raises(ValidationError) as caught:
        definition.check(personas.bob, personas.project, data)
    return caught.value.message_dict


def test_a_diamond_is_accepted_with_its_step_fields(personas):
    checked = definition.check(
        personas.bob,
        personas.project,
        {
            "name": "diamond",
            "steps": [
                step("prepare", retries=2, retry_delay_seconds=5),
                step("train-a", "prepare", resources={"cpu": "0.5", "memory_mib": 512}),
                step("train-b", "prepare"),
                step("evaluate", "train-a", "train-b"),
            ],
        },
    )
    assert [s.name for s in checked.steps] == ["prepare", "train-a", "train-b", "evaluate"]
    assert checked.steps[0].retries == 2 and checked.steps[0].retry_delay_seconds == 5
    assert checked.steps[3].depends_on == ["train-a", "train-b"]
    assert "depends_on" not in checked.steps[1].spec and checked.steps[1].spec["resources"]["cpu"] == "0.5"


def test_a_cycle_is_refused_naming_it(personas):
    errors = refusal(personas, {"name": "loop", "steps": [step("a", "c"), step("b", "a"), step("c", "b")]})
    assert len(errors["steps"]) == 1
    message = errors["steps"][0]
    assert message.startswith("The steps depend on each other in a cycle:")
    assert all(name in message for name in "abc")


def test_unknown_dependency_duplicate_and_self_are_named(personas):
    errors = refusal(
        personas,
        {"name": "bad", "steps": [step("a"), step("a"), step("b", "ghost"), step("c", "c")]},
    )
    assert "Two steps are named “a”: each step needs its own name." in errors["steps"]
    assert "Step “b” depends on “ghost”, which is not a step of this pipeline." in errors["steps"]
    assert "Step “c” depends on itself." in errors["steps"]


def test_more_steps_than_the_site_allows(personas, settings):
    settings.TALLER_PIPELINE_MAX_STEPS = 3
    errors = refusal(personas, {"name": "big", "steps": [step(f"s{i}") for i in range(4)]})
    assert errors == {"steps": ["4 steps: a pipeline has at most 3 here."]}


def test_a_step_over_the_per_job_limits_is_named_with_its_field(personas, settings):
    settings.TALLER_MAX_JOB_GPUS = 1
    errors = refusal(
        personas,
        {"name": "greedy", "steps": [step("fine"), step("huge", "fine", resources={"gpus": 4})]},
    )
    assert errors == {"steps": ["Step “huge”: gpus: At most 1 GPU for one job here."]}


def test_a_step_field_the_job_api_refuses(personas):
    errors = refusal(
        personas,
        {
            "name": "typo",
            "steps": [step("a", gpu=1), step("b", command="echo hi"), step("c", env={"MLFLOW_X": "1"})],
        },
    )
    assert "Step “a”: gpu: Unknown field: this API does not accept it." in errors["steps"]
    assert any(m.startswith("Step “b”: command:") for m in errors["steps"])
    assert any(m.startswith("Step “c”: env: “MLFLOW_X” is reserved") for m in errors["steps"])


def test_bad_names_retries_and_top_level_fields(personas):
    errors = refusal(personas, {"name": "x", "steps": [step("Bad Name"), step("ok", retries=99)]})
    assert errors["steps"][0].startswith("Step 1: a step's name has 1 to 63 lowercase letters")
    assert errors["steps"][1] == "Step “ok”: retries is a whole number from 0 to 10."
    assert refusal(personas, {"name": "x", "steps": [step("a")], "stepz": []}) == {
        "stepz": ["Unknown field: a definition does not take it."]
    }
    assert refusal(personas, {"name": "x", "steps": []}) == {"steps": ["Give the steps as a non-empty list."]}


def test_parse_refuses_what_is_not_yaml(personas):
    with pytest.raises(ValidationError) as caught:
        definition.parse("name: [unclosed")
    assert caught.value.message_dict["definition"][0].startswith("Not valid YAML or JSON:")
    with pytest.raises(ValidationError):
        definition.parse("- a list")
    assert definition.parse('{"name": "json too", "steps": []}')["name"] == "json too"


def test_an_archived_project_runs_no_pipeline(personas):
    personas.project.status = personas.project.Status.ARCHIVED
    personas.project.save()
    errors = refusal(personas, {"name": "late", "steps": [step("a")]})
    assert errors["steps"][0].startswith("Step “a”: project: The project is archived")
    assert not Pipeline.objects.exists() and not PipelineRun.objects.exists()


def test_upstream_run_ids_reach_the_environment():
    spec = definition.with_upstream({"env": {"A": "1"}}, {"prepare-data": "abc", "train": "def"})
    assert spec["env"]["A"] == "1"
    assert spec["env"]["UPSTREAM_PREPARE_DATA_RUN_ID"] == "abc"
    assert spec["env"]["UPSTREAM_TRAIN_RUN_ID"] == "def"
    assert spec["env"]["UPSTREAM_RUN_IDS"] == '{"prepare-data": "abc", "train": "def"}'
