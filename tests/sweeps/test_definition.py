"""Bad sweeps are refused field by field, through the API, the form and the command's body alike,
and nothing is created: placeholders and space that do not match, empty or inverted ranges, a grid
the trial limit does not cover, parallelism the quota could never hold, bad job fields."""

import pytest
import yaml
from rest_framework.test import APIClient

from clusterjobs.models import Job
from portal.quotas.models import Quota
from sweeps.models import Sweep

from .conftest import body


def post(personas, data, who="bob"):
    client = APIClient()
    client.force_authenticate(getattr(personas, who))
    return client.post("/api/v1/sweeps/", data, format="json")


CASES = [
    (
        {"command": ["python", "train.py", "--x", "{x}", "--y", "{y}", "--z", "{z}"]},
        "command",
        "No search space for {z}",
    ),
    ({"env": {"DEPTH": "{depth}"}}, "env", "No search space for {depth}"),
    (
        {
            "space": {
                "x": {"type": "float", "low": 0, "high": 1},
                "y": {"type": "float", "low": 0, "high": 1},
                "lr": {"type": "log_uniform", "low": 0.001, "high": 0.1},
            }
        },
        "space",
        "Not used in the command or environment: lr",
    ),
    (
        {"space": {"x": {"type": "float", "low": 1, "high": 1}, "y": {"type": "int", "low": 0, "high": 3}}},
        "space",
        "x: the range is empty or inverted",
    ),
    (
        {"space": {"x": {"type": "float", "low": 2, "high": 1}, "y": {"type": "int", "low": 0, "high": 3}}},
        "space",
        "x: the range is empty or inverted (low 2.0, high 1.0)",
    ),
    (
        {
            "space": {
                "x": {"type": "log_uniform", "low": 0, "high": 1},
                "y": {"type": "int", "low": 0, "high": 3},
            }
        },
        "space",
        "x: a log-uniform range needs low above 0",
    ),
    (
        {"space": {"x": {"type": "categorical", "choices": []}, "y": {"type": "int", "low": 0, "high": 3}}},
        "space",
        "x: give a non-empty list of choices",
    ),
    (
        {"space": {"x": {"type": "normal"}, "y": {"type": "int", "low": 0, "high": 3}}},
        "space",
        "x: the type must be one of",
    ),
    (
        {
            "algorithm": "grid",
            "space": {
                "x": {"type": "categorical", "choices": [0.1, 0.5, 0.9]},
                "y": {"type": "int", "low": 0, "high": 3},
            },
        },
        "max_trials",
        "The grid has 12 points",
    ),
    ({"algorithm": "grid"}, "algorithm", "Grid search needs finite dimensions"),
    ({"max_parallel": 20}, "max_parallel", "The project's quota holds at most 4 such trials at once"),
    ({"max_trials": 0}, "max_trials", "Enter a whole number from 1 to"),
    ({"objective": ""}, "objective", "Name the MLflow metric"),
    ({"algorithm": "bayes"}, "algorithm", ""),
    ({"name": ""}, "name", "Give the sweep a name"),
    ({"command": []}, "command", "non-empty list"),
    ({"resources": {"gpus": 99}}, "resources", "GPU"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field", "message"), CASES, ids=[f"{c[1]}-{i}" for i, c in enumerate(CASES)]
)
def test_bad_input_is_a_400_per_field_and_creates_nothing(personas, changes, field, message):
    Quota.objects.filter(project=personas.project).update(max_running_jobs=4)
    response = post(personas, body(**changes))
    assert response.status_code == 400, response.json()
    errors = response.json()
    assert field in errors, errors
    assert message in str(errors[field]), errors
    assert not Sweep.objects.exists() and not Job.objects.exists()


@pytest.mark.django_db
def test_a_yaml_body_is_read_as_json_is(personas):
    client = APIClient()
    client.force_authenticate(personas.bob)
    text = yaml.safe_dump(body(max_trials="many"))
    response = client.post("/api/v1/sweeps/", text, content_type="application/yaml")
    assert response.status_code == 400
    assert "max_trials" in response.json()
    response = client.post("/api/v1/sweeps/", "a: [", content_type="application/yaml")
    assert response.status_code == 400 and "not YAML" in response.json()["detail"]


@pytest.mark.django_db
def test_the_form_lists_each_problem_by_its_field(personas):
    client = personas.client("bob")
    definition = yaml.safe_dump({k: v for k, v in body(max_parallel=500).items() if k != "project"})
    response = client.post("/projects/genomics/sweeps/new/", {"definition": definition})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="sweep-errors"' in page and "max_parallel" in page and "such trials at once" in page
    definition = yaml.safe_dump({**{k: v for k, v in body().items() if k != "project"}, "max_trails": 3})
    page = client.post("/projects/genomics/sweeps/new/", {"definition": definition}).content.decode()
    assert "max_trails" in page and "Not a field of a sweep." in page
    response = client.post("/projects/genomics/sweeps/new/", {"definition": "- a list"})
    assert "A sweep is a mapping" in response.content.decode()
    assert not Sweep.objects.exists()
