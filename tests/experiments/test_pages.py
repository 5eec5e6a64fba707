"""Every page and API call of experiments, runs and models, per persona, and their bad input."""

import pytest

from experiments import gateway
from portal.accounts.actions import create_token
from portal.projects.models import AuditEvent

from .conftest import log_example

pytestmark = pytest.mark.slow
READERS = {"alice": 200, "bob": 200, "vera": 200, "root": 200, "charlie": 404}


@pytest.fixture
def logged(personas, physics, mlflow_uri):
    genomics = log_example("genomics", params={"lr": "0.1", "depth": "3"}, metrics={"acc": 0.7})
    second = log_example("genomics", params={"lr": "0.2", "depth": "3"}, metrics={"acc": 0.9})
    other = log_example("physics")
    return genomics, second, other


def _pages(logged):
    genomics, second, _other = logged
    run, exp = genomics.run_id, genomics.experiment_id
    short = genomics.model.split(".", 1)[1]
    version = gateway.list_versions("genomics", genomics.model)["versions"][0]["version"]
    return [
        "/projects/genomics/experiments/",
        f"/projects/genomics/experiments/{exp}/",
        f"/projects/genomics/runs/{run}/",
        f"/projects/genomics/runs/{run}/history/?key=loss",
        f"/projects/genomics/runs/{run}/artifacts/",
        f"/projects/genomics/runs/{run}/artifacts/?path=notes",
        f"/projects/genomics/runs/{run}/artifacts/preview/?path=notes/readme.txt",
        f"/projects/genomics/runs/{run}/artifacts/download/?path=notes/readme.txt",
        f"/projects/genomics/compare/?runs={run},{second.run_id}",
        f"/projects/genomics/compare/history/?runs={run},{second.run_id}&key=loss",
        "/projects/genomics/models/",
        f"/projects/genomics/models/{short}/",
        f"/projects/genomics/models/{short}/versions/{version}/",
    ]


@pytest.mark.parametrize("who", sorted(READERS))
def test_every_page_checks_membership(personas, logged, who):
    client = personas.client(who)
    for url in _pages(logged):
        response = client.get(url)
        assert response.status_code == READERS[who], (who, url, response.status_code)


def test_anonymous_is_sent_to_log_in(personas, logged):
    for url in _pages(logged):
        response = personas.client(None).get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url


def test_another_projects_objects_are_404_from_this_project(personas, logged):
    _genomics, _second, other = logged
    client = personas.client("alice")
    for url in [
        f"/projects/genomics/experiments/{other.experiment_id}/",
        f"/projects/genomics/runs/{other.run_id}/",
        f"/projects/genomics/runs/{other.run_id}/artifacts/download/?path=notes/readme.txt",
        f"/projects/genomics/runs/{other.run_id}/history/?key=loss",
        "/projects/genomics/models/classifier-of-nobody/",
    ]:
        assert client.get(url).status_code == 404, url


def test_run_page_shows_params_metrics_tags_artifacts_and_the_job(personas, logged):
    from clusterjobs.models import Job

    genomics = logged[0]
    job = Job.objects.create(
        project=personas.project,
        submitter=personas.bob,
        name="train",
        image="python:3.11",
        command=["python", "train.py"],
        mlflow_run_id=genomics.run_id,
    )
    # What the portal tags a job's run with when it creates it (clusterjobs.runs, at dispatch).
    gateway.set_run_tags(genomics.run_id, {gateway.JOB_TAG: str(job.pk)})
    page = personas.client("vera").get(f"/projects/genomics/runs/{genomics.run_id}/").content.decode()
    assert "depth" in page and "0.7" in page and "taller.project" in page
    assert f'<a href="/jobs/{job.pk}/">Job {job.pk}</a>' in page
    # A model version's page finds the job through its source run.
    found = personas.client("vera").get(f"/projects/genomics/runs/{genomics.run_id}/job/")
    assert found.status_code == 302 and found["Location"] == f"/jobs/{job.pk}/"
    assert 'data-history-url="/projects/genomics/runs/' in page
    history = (
        personas.client("vera").get(f"/projects/genomics/runs/{genomics.run_id}/history/?key=loss").json()
    )
    assert [p["step"] for p in history["series"][0]["points"]] == [0, 1, 2, 3, 4]
    tree = personas.client("vera").get(f"/projects/genomics/runs/{genomics.run_id}/artifacts/?path=notes")
    assert b"readme.txt" in tree.content
    preview = personas.client("vera").get(
        f"/projects/genomics/runs/{genomics.run_id}/artifacts/preview/?path=notes/readme.txt"
    )
    assert b"hello from genomics" in preview.content
    download = personas.client("vera").get(
        f"/projects/genomics/runs/{genomics.run_id}/artifacts/download/?path=notes/readme.txt"
    )
    assert download.streaming and b"".join(download.streaming_content) == b"hello from genomics"
    assert "attachment" in download["Content-Disposition"]


def test_artifact_bad_input(personas, logged, settings):
    run = logged[0].run_id
    client = personas.client("bob")
    for path in ["../../etc/passwd", "/etc/passwd", "notes/../../x", "..\\x"]:
        for view in ("artifacts/", "artifacts/preview/", "artifacts/download/"):
            response = client.get(f"/projects/genomics/runs/{run}/{view}", {"path": path})
            assert response.status_code == 400, (view, path)
            assert "artifacts" in response.content.decode()
    missing = client.get(f"/projects/genomics/runs/{run}/artifacts/download/", {"path": "nope.txt"})
    assert missing.status_code == 404
    settings.TALLER_PREVIEW_MAX_BYTES = 5
    too_big = client.get(f"/projects/genomics/runs/{run}/artifacts/preview/", {"path": "notes/readme.txt"})
    assert too_big.status_code == 200
    assert b"too large to preview" in too_big.content and b"hello" not in too_big.content


def test_unknown_run_and_bad_filter_get_clear_messages(personas, logged):
    client = personas.client("bob")
    assert client.get("/projects/genomics/runs/0123456789abcdef0123456789abcdef/").status_code == 404
    assert client.get("/projects/genomics/runs/not a run/").status_code == 404
    exp = logged[0].experiment_id
    bad = client.get(f"/projects/genomics/experiments/{exp}/", {"filter": "metrics.acc >>> 1"})
    assert bad.status_code == 200
    assert b'id="filter-error"' in bad.content
    good = client.get(f"/projects/genomics/experiments/{exp}/", {"filter": "params.lr = '0.2'"})
    assert logged[1].run_id.encode() in good.content and logged[0].run_id.encode() not in good.content


def test_runs_table_sorts_and_chooses_columns(personas, logged):
    exp = logged[0].experiment_id
    client = personas.client("vera")
    response = client.get(
        f"/projects/genomics/experiments/{exp}/",
        {
            "order": "metrics.`acc` DESC",
            "columns": "chosen",
            "cols": ["metrics.acc"],
            "filter": "params.depth = '3'",
        },
        headers={"HX-Request": "true"},
    )
    content = response.content.decode()
    assert "<html" not in content  # the fragment only
    assert content.index(logged[1].run_id) < content.index(logged[0].run_id)
    assert "params.depth" in content  # offered as a column...
    assert '<th class="col-params">' not in content  # ...but not chosen


def test_compare_marks_differences_and_bounds_the_number_of_runs(personas, logged):
    a, b, _ = logged
    client = personas.client("vera")
    page = client.get(f"/projects/genomics/compare/?runs={a.run_id},{b.run_id}").content.decode()
    assert '<tr class="differs"><th scope="row">lr' in page
    assert '<tr class=""><th scope="row">depth' in page
    assert 'id="compare-canvas"' in page
    one = client.get(f"/projects/genomics/compare/?runs={a.run_id}")
    assert one.status_code == 400 and b"between 2 and 10" in one.content
    many = client.get("/projects/genomics/compare/", {"runs": ",".join(f"{i:032x}" for i in range(11))})
    assert many.status_code == 400
    chart = client.get(f"/projects/genomics/compare/history/?runs={a.run_id},{b.run_id}&key=loss").json()
    assert [len(s["points"]) for s in chart["series"]] == [5, 5]
    foreign = client.get(f"/projects/genomics/compare/?runs={a.run_id},{logged[2].run_id}")
    assert foreign.status_code == 404


@pytest.mark.parametrize(
    ("who", "status"), [("alice", 200), ("bob", 200), ("root", 200), ("vera", 403), ("charlie", 404)]
)
def test_members_set_and_remove_aliases_and_tags_viewers_only_look(personas, logged, who, status):
    model = logged[0].model
    short = model.split(".", 1)[1]
    version = gateway.list_versions("genomics", model)["versions"][0]["version"]
    base = f"/projects/genomics/models/{short}/versions/{version}/"
    client = personas.client(who)
    page = client.get(base)
    if who != "charlie":
        assert (b'id="alias-form"' in page.content) == (status == 200)
    answers = [
        client.post(base + "alias/", {"alias": f"best-{who}"}, headers={"HX-Request": "true"}),
        client.post(base + "tags/", {"key": "stage", "value": who}, headers={"HX-Request": "true"}),
    ]
    assert [a.status_code for a in answers] == [status, status]
    if status == 200:
        stored = gateway.get_version("genomics", model, version)
        assert f"best-{who}" in stored["aliases"] and stored["tags"]["stage"] == who
        assert f"@best-{who}" in answers[0].content.decode()
        removed = client.post(
            base + "alias/delete/", {"alias": f"best-{who}"}, headers={"HX-Request": "true"}
        )
        client.post(base + "tags/delete/", {"key": "stage"}, headers={"HX-Request": "true"})
        assert removed.status_code == 200
        stored = gateway.get_version("genomics", model, version)
        assert f"best-{who}" not in stored["aliases"] and "stage" not in stored["tags"]
        assert AuditEvent.objects.filter(verb="model.alias.set", project=personas.project).exists()
    else:
        assert f"best-{who}" not in gateway.get_version("genomics", model, version)["aliases"]


def test_alias_bad_input_is_a_field_message(personas, logged):
    model = logged[0].model
    short = model.split(".", 1)[1]
    version = gateway.list_versions("genomics", model)["versions"][0]["version"]
    base = f"/projects/genomics/models/{short}/versions/{version}/"
    client = personas.client("bob")
    for alias in ("", "latest", "v12"):
        answer = client.post(base + "alias/", {"alias": alias}, headers={"HX-Request": "true"})
        assert answer.status_code == 200
        assert b'<small class="error">' in answer.content, alias
    reserved = client.post(
        base + "tags/", {"key": "taller.project", "value": "x"}, headers={"HX-Request": "true"}
    )
    assert b'<small class="error">' in reserved.content


def test_model_pages_list_versions_with_source_run(personas, logged):
    model = logged[0].model
    client = personas.client("vera")
    listing = client.get("/projects/genomics/models/").content.decode()
    assert "classifier" in listing and "physics" not in listing
    detail = client.get(f"/projects/genomics/models/{model.split('.', 1)[1]}/").content.decode()
    assert logged[0].run_id[:9] in detail


def test_mlflow_down_is_a_message_not_a_500(personas, logged, settings):
    from ..conftest import free_port

    settings.MLFLOW_TRACKING_URI = f"http://127.0.0.1:{free_port()}"
    client = personas.client("bob")
    for url in [
        "/projects/genomics/experiments/",
        "/projects/genomics/models/",
        f"/projects/genomics/runs/{logged[0].run_id}/",
    ]:
        response = client.get(url)
        assert response.status_code == 502, url
        assert b'id="mlflow-error"' in response.content
    api = client.get("/api/v1/experiments/", {"project": "genomics"})
    assert api.status_code == 502 and "MLflow" in api.json()["detail"]


def test_project_page_links_to_experiments_and_models(personas, logged):
    page = personas.client("vera").get("/projects/genomics/").content.decode()
    assert 'href="/projects/genomics/experiments/"' in page and 'href="/projects/genomics/models/"' in page


# API ----------------------------------------------------------------------------------------------


def _api_calls(logged):
    genomics = logged[0]
    return [
        ("/api/v1/experiments/", {"project": "genomics"}),
        ("/api/v1/runs/", {"project": "genomics"}),
        ("/api/v1/runs/", {"project": "genomics", "experiment": genomics.experiment_id}),
        (f"/api/v1/runs/{genomics.run_id}/", {}),
        ("/api/v1/models/", {"project": "genomics"}),
    ]


@pytest.mark.parametrize("who", sorted(READERS))
def test_every_api_call_checks_membership(personas, logged, who):
    client = personas.client(who)
    for url, params in _api_calls(logged):
        assert client.get(url, params).status_code == READERS[who], (who, url)


def test_api_answers(personas, logged):
    genomics, second, other = logged
    _token, key = create_token(personas.vera, "cli")
    from django.test import Client

    api = Client(HTTP_AUTHORIZATION=f"Token {key}")
    experiments = api.get("/api/v1/experiments/", {"project": "genomics"}).json()
    assert {e["name"] for e in experiments["experiments"]} >= {"genomics/demo"}
    runs = api.get(
        "/api/v1/runs/",
        {"project": "genomics", "filter": "params.lr = '0.2'", "order_by": "metrics.acc DESC"},
    ).json()
    assert second.run_id in {r["run_id"] for r in runs["runs"]} and genomics.run_id not in {
        r["run_id"] for r in runs["runs"]
    }
    assert "next_page_token" in runs
    run = api.get(f"/api/v1/runs/{genomics.run_id}/").json()
    assert [p["value"] for p in run["metric_history"]["loss"]] == pytest.approx(
        [1, 1 / 2, 1 / 3, 1 / 4, 1 / 5]
    )
    assert run["params"]["lr"] == "0.1" and run["project"] == "genomics"
    models = api.get("/api/v1/models/", {"project": "genomics"}).json()
    assert [m["name"] for m in models["models"]] == ["genomics.classifier"]
    # Bad input and foreign objects.
    assert api.get("/api/v1/runs/").status_code == 400
    assert "project" in api.get("/api/v1/runs/").json()
    bad = api.get("/api/v1/runs/", {"project": "genomics", "filter": "metrics.acc >>> 1"})
    assert bad.status_code == 400 and "filter" in bad.json()
    assert api.get("/api/v1/runs/", {"project": "physics"}).status_code == 404
    assert api.get(f"/api/v1/runs/{other.run_id}/").status_code == 404
    assert api.get("/api/v1/runs/0123456789abcdef0123456789abcdef/").status_code == 404
    assert (
        api.get("/api/v1/runs/", {"project": "genomics", "experiment": other.experiment_id}).status_code
        == 404
    )
    assert api.get("/api/v1/runs/", {"project": "genomics", "max_results": "0"}).status_code == 400
    assert Client().get("/api/v1/runs/", {"project": "genomics"}).status_code in {401, 403}


def test_a_job_token_reaches_no_experiment_in_the_api(personas, logged, physics):
    """Not even its own project's: a job reads its runs through the /mlflow/ proxy."""
    from portal.projects.models import Membership, Role

    Membership.objects.create(project=physics, user=personas.bob, role=Role.MEMBER)
    _token, key = create_token(personas.bob, "job", project=personas.project)
    from django.test import Client

    api = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get("/api/v1/experiments/", {"project": "genomics"}).status_code == 403
    assert api.get("/api/v1/experiments/", {"project": "physics"}).status_code == 403
    assert api.get(f"/api/v1/runs/{logged[0].run_id}/").status_code == 403
    assert api.get(f"/api/v1/runs/{logged[2].run_id}/").status_code == 403
