"""The runs table (rounded metrics, duration, the search across a project's experiments) and the
charts of many runs, per persona, each page one bounded MLflow search."""

import uuid

import pytest
import requests

from experiments.templatetags.mlflow_extras import duration, short_number

from .conftest import log_example

pytestmark = pytest.mark.slow
READERS = {"alice": 200, "bob": 200, "vera": 200, "root": 200, "charlie": 404}


@pytest.fixture
def logged(personas, physics, mlflow_uri):
    # A fresh experiment: the session's MLflow server keeps other tests' runs.
    name = f"table-{uuid.uuid4().hex[:8]}"
    first = log_example("genomics", name, params={"lr": "0.1"}, metrics={"acc": 0.123456789})
    second = log_example("genomics", name, params={"lr": "0.2"}, metrics={"acc": 0.9})
    foreign = log_example("physics", params={"lr": "0.3"}, metrics={"acc": 0.5})
    return first, second, foreign


def test_numbers_and_durations_read_well():
    assert short_number(0.123456789) == "0.1235" and short_number(12345678.0) == "1.235e+07"
    assert short_number(None) == "" and short_number("x") == "x"
    assert [duration(v) for v in (850, 42_000, 185_000, 7_800_000, None)] == [
        "850 ms",
        "42 s",
        "3 min 5 s",
        "2 h 10 min",
        "",
    ]


@pytest.mark.parametrize("who", sorted(READERS))
def test_runs_and_charts_pages_check_membership(personas, logged, who):
    first = logged[0]
    client = personas.client(who)
    for url in [
        "/projects/genomics/runs/",
        "/projects/genomics/charts/",
        f"/projects/genomics/charts/?experiment={first.experiment_id}&metric=acc&param=lr",
    ]:
        assert client.get(url).status_code == READERS[who], url


def test_the_table_rounds_metrics_shows_durations_and_keeps_names_in_view(personas, logged):
    first = logged[0]
    page = personas.client("vera").get(f"/projects/genomics/experiments/{first.experiment_id}/")
    html = page.content.decode()
    assert '<td class="num" title="0.123456789">0.1235</td>' in html
    assert '<th scope="row" class="run-name"><a href="/projects/genomics/runs/' in html
    assert 'class="table-scroll"' in html and "css/experiments.css" in html
    assert ">Duration</th>" in html


def test_one_search_across_the_projects_experiments(
    personas, logged, django_assert_max_num_queries, monkeypatch
):
    first, second, foreign = logged
    client = personas.client("bob")
    html = client.get("/projects/genomics/runs/").content.decode()
    assert first.run_id in html and second.run_id in html and foreign.run_id not in html
    filtered = client.get("/projects/genomics/runs/", {"filter": "params.lr = '0.2'"}).content.decode()
    assert second.run_id in filtered and first.run_id not in filtered
    paged = client.get("/projects/genomics/runs/", {"size": "25"}).content.decode()
    assert 'id="page-number"' in paged
    # The experiments' ids are cached: the page costs MLflow one search (HTTP requests counted).
    calls = []
    original = requests.adapters.HTTPAdapter.send

    def counting(adapter, request, *args, **kwargs):
        calls.append(request.path_url)
        return original(adapter, request, *args, **kwargs)

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", counting)
    with django_assert_max_num_queries(12):
        client.get("/projects/genomics/runs/")
    assert calls == ["/api/2.0/mlflow/runs/search"]


def test_charts_carry_their_data_as_a_table(personas, logged):
    first, second, _foreign = logged
    client = personas.client("vera")
    query = {"experiment": first.experiment_id, "metric": "acc", "param": "lr"}
    html = client.get("/projects/genomics/charts/", query).content.decode()
    assert 'id="chart-data" type="application/json"' in html
    assert 'id="scatter-canvas"' in html and 'id="parallel-canvas"' in html
    assert '<table id="chart-table">' in html and "The data of the charts: 2 runs." in html
    assert '<td class="num" title="0.9">0.9</td>' in html
    one = client.get("/projects/genomics/charts/", {**query, "filter": "params.lr = '0.1'"}).content.decode()
    assert "The data of the charts: 1 run." in one
    everything = client.get("/projects/genomics/charts/", {"metric": "acc"}).content.decode()
    assert first.run_id in everything and logged[2].run_id not in everything
    bad = client.get("/projects/genomics/charts/", {"filter": "params.lr >>> 1"})
    assert bad.status_code == 200 and 'id="filter-error"' in bad.content.decode()
    assert (
        client.get("/projects/genomics/charts/", {"experiment": logged[2].experiment_id}).status_code == 404
    )
