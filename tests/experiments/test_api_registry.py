"""Registered models (one model, versions, aliases and tags), a run's artifacts and the comparison
of runs over the API, against the session's real MLflow server, under every persona."""

import pytest

from tests.factories import MembershipFactory, ProjectFactory

from .conftest import log_example

pytestmark = pytest.mark.slow

PERSONAS = [None, "alice", "bob", "vera", "charlie", "root"]
READ = {None: 401, "alice": 200, "bob": 200, "vera": 200, "charlie": 404, "root": 200}
WRITE = {None: 401, "alice": 204, "bob": 204, "vera": 403, "charlie": 404, "root": 204}


@pytest.fixture
def logged(personas, mlflow_uri):
    return log_example("genomics")


def client(personas, who):
    from django.test import Client

    return Client() if who is None else personas.client(who)


@pytest.mark.parametrize("who", PERSONAS)
def test_read_a_model_its_versions_and_one_version(personas, logged, who):
    api = client(personas, who)
    base = "/api/v1/projects/genomics/models/classifier"
    answers = [api.get(f"{base}/"), api.get(f"{base}/versions/")]
    assert [a.status_code for a in answers] == [READ[who]] * 2, answers[0].content
    if READ[who] == 200:
        model, versions = (a.json() for a in answers)
        assert model["name"] == "genomics.classifier" and model["short_name"] == "classifier"
        newest = versions["versions"][0]
        assert newest["run_id"] == logged.run_id
        one = api.get(f"{base}/versions/{newest['version']}/")
        assert one.status_code == 200 and one.json()["version"] == newest["version"]


@pytest.mark.parametrize("who", PERSONAS)
def test_change_aliases_and_tags(personas, logged, who):
    api = client(personas, who)
    base = "/api/v1/projects/genomics/models/classifier"
    version = personas.client("root").get(f"{base}/versions/").json()["versions"][0]["version"]
    put = api.put(f"{base}/aliases/champion/", {"version": version}, content_type="application/json")
    assert put.status_code == WRITE[who], put.content
    tag = api.put(
        f"{base}/versions/{version}/tags/stage/", {"value": "prod"}, content_type="application/json"
    )
    assert tag.status_code == WRITE[who], tag.content
    if WRITE[who] == 204:
        seen = personas.client("vera").get(f"{base}/versions/{version}/").json()
        assert "champion" in seen["aliases"] and seen["tags"]["stage"] == "prod"
        assert api.delete(f"{base}/aliases/champion/").status_code == 204
        assert api.delete(f"{base}/versions/{version}/tags/stage/").status_code == 204
        seen = personas.client("vera").get(f"{base}/versions/{version}/").json()
        assert "champion" not in seen["aliases"] and "stage" not in seen["tags"]


def test_bad_alias_and_tag_writes_are_400_per_field(personas, logged):
    api = personas.client("bob")
    base = "/api/v1/projects/genomics/models/classifier"
    version = api.get(f"{base}/versions/").json()["versions"][0]["version"]
    missing = api.put(f"{base}/aliases/champion/", {}, content_type="application/json")
    assert missing.status_code == 400 and list(missing.json()) == ["version"]
    extra = api.put(
        f"{base}/aliases/champion/", {"version": version, "x": 1}, content_type="application/json"
    )
    assert extra.status_code == 400 and "x" in extra.json()
    reserved = api.put(
        f"{base}/versions/{version}/tags/taller.job/", {"value": "1"}, content_type="application/json"
    )
    assert reserved.status_code == 400 and list(reserved.json()) == ["key"]
    assert api.get(f"{base}/versions/9999/").status_code == 404
    assert api.get("/api/v1/projects/genomics/models/nothing/").status_code == 404


@pytest.mark.parametrize("who", PERSONAS)
def test_list_and_download_artifacts(personas, logged, who):
    api = client(personas, who)
    listed = api.get(f"/api/v1/runs/{logged.run_id}/artifacts/")
    assert listed.status_code == READ[who], listed.content
    if READ[who] == 200:
        assert [f["path"] for f in listed.json()["files"]] == ["notes"]
        inner = api.get(f"/api/v1/runs/{logged.run_id}/artifacts/", {"path": "notes"}).json()
        assert inner["files"][0]["path"] == "notes/readme.txt" and not inner["files"][0]["is_dir"]
        download = api.get(f"/api/v1/runs/{logged.run_id}/artifacts/download/", {"path": "notes/readme.txt"})
        assert download.status_code == 200
        assert b"".join(download.streaming_content) == b"hello from genomics"
        assert "readme.txt" in download["Content-Disposition"]
    else:
        download = api.get(f"/api/v1/runs/{logged.run_id}/artifacts/download/", {"path": "notes/readme.txt"})
        assert download.status_code == READ[who]


def test_artifact_paths_may_not_leave_the_run(personas, logged):
    api = personas.client("bob")
    for path in ("../x", "/etc/passwd"):
        answer = api.get(f"/api/v1/runs/{logged.run_id}/artifacts/download/", {"path": path})
        assert answer.status_code == 400 and list(answer.json()) == ["path"]
    missing = api.get(f"/api/v1/runs/{logged.run_id}/artifacts/download/", {"path": "nothing.txt"})
    assert missing.status_code == 404


@pytest.mark.parametrize("who", PERSONAS)
def test_compare_runs(personas, mlflow_uri, who):
    first = log_example("genomics", metrics={"acc": 0.5}, params={"lr": "0.1"})
    second = log_example("genomics", metrics={"acc": 0.7}, params={"lr": "0.1"})
    answer = client(personas, who).get(
        "/api/v1/runs/compare/", {"project": "genomics", "runs": f"{first.run_id},{second.run_id}"}
    )
    assert answer.status_code == READ[who], answer.content
    if READ[who] == 200:
        body = answer.json()
        assert [run["run_id"] for run in body["runs"]] == [first.run_id, second.run_id]
        metrics = {row["key"]: row for row in body["metrics"]}
        assert metrics["acc"] == {"key": "acc", "values": [0.5, 0.7], "differs": True}
        assert {row["key"]: row["differs"] for row in body["params"]} == {"lr": False}


def test_compare_needs_two_to_ten_runs_of_the_project(personas, mlflow_uri):
    MembershipFactory(project=ProjectFactory(slug="physics"), user=personas.bob)
    mine, theirs = log_example("genomics"), log_example("physics")
    api = personas.client("vera")
    one = api.get("/api/v1/runs/compare/", {"project": "genomics", "runs": mine.run_id})
    assert one.status_code == 400 and list(one.json()) == ["runs"]
    mixed = api.get(
        "/api/v1/runs/compare/", {"project": "genomics", "runs": f"{mine.run_id},{theirs.run_id}"}
    )
    assert mixed.status_code == 404
