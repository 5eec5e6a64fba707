"""The pipelines API for each persona: members and owners run, viewers read, outsiders see
nothing; a refused definition (YAML text or JSON body) is a 400 naming the culprit and creates
nothing."""

import pytest
from rest_framework.test import APIClient

from pipelines import actions
from pipelines.models import Pipeline, PipelineRun, StepRun

pytestmark = pytest.mark.django_db
YAML = """
project: genomics
name: nightly
steps:
  - name: prepare
    command: [python, -c, "print(1)"]
  - name: train
    depends_on: [prepare]
    command: [python, -c, "print(2)"]
    resources: {cpu: "0.5", memory_mib: 512}
"""


def api(personas, who):
    client = APIClient()
    if who:
        client.force_authenticate(getattr(personas, who))
    return client


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_members_and_owners_run_a_yaml_definition(personas, mlflow_uri, who):
    response = api(personas, who).post("/api/v1/pipelines/", {"definition": YAML}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["pipeline"] == "nightly" and body["project"] == "genomics" and body["status"] == "running"
    assert [s["name"] for s in body["steps"]] == ["prepare", "train"]
    assert [s["status"] for s in body["steps"]] == ["starting", "waiting"]
    assert body["steps"][1]["depends_on"] == ["prepare"] and body["mlflow_run_id"]


def test_a_json_body_runs_too(personas, mlflow_uri):
    body = {"project": "genomics", "name": "json", "steps": [{"name": "only", "command": ["true"]}]}
    response = api(personas, "bob").post("/api/v1/pipelines/", body, format="json")
    assert response.status_code == 201, response.json()


@pytest.mark.parametrize(("who", "status"), [("vera", 403), ("charlie", 400), (None, 401)])
def test_others_cannot_run(personas, who, status):
    response = api(personas, who).post("/api/v1/pipelines/", {"definition": YAML}, format="json")
    assert response.status_code == status
    if who == "charlie":
        assert response.json() == {"project": ["No such project."]}
    assert not Pipeline.objects.exists()


def test_a_refused_definition_creates_nothing(personas):
    bad = YAML.replace("depends_on: [prepare]", "depends_on: [train]")
    response = api(personas, "bob").post("/api/v1/pipelines/", {"definition": bad}, format="json")
    assert response.status_code == 400
    assert response.json() == {"steps": ["Step “train” depends on itself."]}
    response = api(personas, "bob").post("/api/v1/pipelines/", {"definition": "steps: ["}, format="json")
    assert response.status_code == 400 and "definition" in response.json()
    assert not Pipeline.objects.exists() and not PipelineRun.objects.exists() and not StepRun.objects.exists()


def test_validate_creates_nothing(personas):
    response = api(personas, "bob").post("/api/v1/pipelines/validate/", {"definition": YAML}, format="json")
    assert response.status_code == 200
    assert response.json() == {"valid": True, "name": "nightly", "steps": ["prepare", "train"]}
    assert not Pipeline.objects.exists()


@pytest.fixture
def run(personas, mlflow_uri):
    data = {
        "name": "p",
        "steps": [
            {"name": "a", "command": ["true"]},
            {"name": "b", "command": ["true"], "depends_on": ["a"]},
        ],
    }
    return actions.start_pipeline(personas.bob, personas.project, data)


@pytest.mark.parametrize(
    ("who", "seen"), [("alice", True), ("vera", True), ("root", True), ("charlie", False)]
)
def test_who_sees_runs(personas, run, who, seen):
    client = api(personas, who)
    listed = client.get("/api/v1/pipeline-runs/").json()["results"]
    assert [r["id"] for r in listed] == ([run.pk] if seen else [])
    detail = client.get(f"/api/v1/pipeline-runs/{run.pk}/")
    assert detail.status_code == (200 if seen else 404)
    pipelines = client.get("/api/v1/pipelines/").json()["results"]
    assert len(pipelines) == (1 if seen else 0)


@pytest.mark.parametrize(("who", "status"), [("vera", 403), ("charlie", 404), (None, 401)])
def test_others_cannot_cancel_or_rerun(personas, run, who, status):
    client = api(personas, who)
    assert client.post(f"/api/v1/pipeline-runs/{run.pk}/cancel/").status_code == status
    assert client.post(f"/api/v1/pipeline-runs/{run.pk}/rerun/", {}, format="json").status_code == status
    run.refresh_from_db()
    assert run.status == "running"


def test_cancel_then_rerun(personas, run):
    client = api(personas, "alice")
    response = client.post(f"/api/v1/pipeline-runs/{run.pk}/rerun/", {}, format="json")
    assert response.status_code == 400 and "status" in response.json()
    response = client.post(f"/api/v1/pipeline-runs/{run.pk}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert [s["status"] for s in response.json()["steps"]] == ["skipped", "skipped"]
    assert client.post(f"/api/v1/pipeline-runs/{run.pk}/cancel/").status_code == 400
    response = client.post(f"/api/v1/pipeline-runs/{run.pk}/rerun/", {"from_failed": False}, format="json")
    assert response.status_code == 201 and response.json()["rerun_of"] == run.pk
