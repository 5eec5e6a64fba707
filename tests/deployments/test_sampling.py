"""Sampled calls (off by default): a deployment keeps a share of its calls' request and answer
bodies, bounded, for some days. The serving path against a real HTTP model server in a thread
(``upstream`` of test_serving_path), the purge with a controlled clock, and who may read them."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deployments import samples
from deployments.models import CallSample
from deployments.tasks import purge_samples
from portal.accounts.actions import create_token
from portal.projects.models import AuditEvent

from . import test_serving_path as serving
from .test_serving_path import call, content

upstream = serving.upstream  # the fixtures of the serving path's tests, a real HTTP model server
deployment = serving.deployment

pytestmark = pytest.mark.django_db

BASE = "/projects/genomics/deployments/digits"


def _sample_inserts(queries) -> list[str]:
    return [q["sql"] for q in queries if "deployments_callsample" in q["sql"]]


def test_sampling_is_off_by_default_and_no_query_is_made(personas, deployment):
    assert deployment.sample_fraction == 0
    _token, key = create_token(personas.bob, "cli")
    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            assert content(call(key)) == {"predictions": [2]}
    assert _sample_inserts(queries.captured_queries) == []
    assert not CallSample.objects.exists()


def test_with_every_call_sampled_each_is_kept_with_its_bodies(personas, deployment):
    samples.set_sampling(personas.bob, deployment, fraction=1, retention_days=3)
    _token, key = create_token(personas.bob, "cli")
    assert content(call(key)) == {"predictions": [2]}
    assert content(call(key, b"a,b\n1,2\n3,4\n5,6\n", content_type="text/csv")) == {"predictions": [3]}
    csv, js = CallSample.objects.order_by("-pk")
    assert js.request_text() == '{"inputs": [[1, 2], [3, 4]]}'
    assert json.loads(js.response_text()) == {"predictions": [2]}
    assert (js.status, js.content_type, js.request_truncated, js.response_truncated) == (
        200,
        "application/json",
        False,
        False,
    )
    assert csv.request_text() == "a,b\n1,2\n3,4\n5,6\n" and json.loads(csv.response_text()) == {
        "predictions": [3]
    }
    assert AuditEvent.objects.filter(verb="deployment.sampling").exists()


def test_bodies_longer_than_the_bound_are_cut_and_flagged(personas, deployment, settings):
    settings.TALLER_SERVE_SAMPLE_MAX_BYTES = 10
    samples.set_sampling(personas.bob, deployment, fraction=1, retention_days=3)
    _token, key = create_token(personas.bob, "cli")
    assert content(call(key)) == {"predictions": [2]}  # the caller still gets the whole answer
    sample = CallSample.objects.get()
    assert bytes(sample.request_body) == b'{"inputs":' and sample.request_truncated
    assert bytes(sample.response_body) == b'{"predicti' and sample.response_truncated


def test_a_failing_insert_does_not_fail_the_call(personas, deployment, monkeypatch):
    samples.set_sampling(personas.bob, deployment, fraction=1, retention_days=3)

    def broken(*args, **kwargs):
        raise RuntimeError("the database is gone")

    monkeypatch.setattr(CallSample.objects, "create", broken)
    _token, key = create_token(personas.bob, "cli")
    assert content(call(key)) == {"predictions": [2]}


@pytest.mark.parametrize(
    "fraction, days", [("2", "3"), ("-0.1", "3"), ("x", "3"), ("0.5", "0"), ("0.5", "999"), ("0.5", "")]
)
def test_bad_settings_are_refused_per_field(personas, deployment, fraction, days):
    client = Client()
    client.force_login(personas.bob)
    answer = client.post(f"{BASE}/sampling/", {"fraction": fraction, "retention_days": days}, follow=True)
    assert answer.status_code == 200
    deployment.refresh_from_db()
    assert (deployment.sample_fraction, deployment.sample_retention_days) == (0, 7)


def test_the_purge_deletes_what_is_past_each_retention_in_batches(personas, deployment):
    other = type(deployment).objects.create(
        project=personas.project, name="other", model_name="genomics.digits", version="1",
        created_by=personas.bob, sample_retention_days=30,
    )  # fmt: skip
    samples.set_sampling(personas.bob, deployment, fraction=1, retention_days=2)
    now = timezone.now()
    for target in (deployment, other):
        for days in (0, 1, 3, 5, 10, 40):
            CallSample.objects.create(
                deployment=target, at=now - timedelta(days=days), status=200, latency_ms=1,
                content_type="text/csv", request_body=b"a", response_body=b"b",
            )  # fmt: skip
    assert samples.purge(now=now, batch=2) == 4 + 1
    assert sorted((now - s.at).days for s in CallSample.objects.filter(deployment=deployment)) == [0, 1]
    assert CallSample.objects.filter(deployment=other).count() == 5
    assert samples.purge(now=now + timedelta(days=60)) == 7
    assert purge_samples.apply().get() == 0


# Inputs may be sensitive: members, owners and site admins read samples; a viewer is refused;
# an outsider is told nothing.
READERS = {"alice": 200, "bob": 200, "root": 200, "vera": 403, "charlie": 404}


@pytest.fixture
def kept(personas, deployment):
    samples.set_sampling(personas.bob, deployment, fraction=1, retention_days=3)
    for n in range(25):
        CallSample.objects.create(
            deployment=deployment, status=200, latency_ms=n, content_type="application/json",
            request_body=f'{{"n": {n}}}'.encode(), response_body=b'{"predictions": [1]}',
        )  # fmt: skip
    return deployment


@pytest.mark.parametrize("who", list(READERS))
def test_who_reads_the_samples_page_and_download(personas, kept, who):
    client = Client()
    client.force_login(getattr(personas, who))
    page = client.get(f"{BASE}/samples/")
    assert page.status_code == READERS[who]
    download = client.get(f"{BASE}/samples.jsonl")
    assert download.status_code == READERS[who]
    if READERS[who] == 200:
        assert page.content.decode().count("<tr>") == 1 + 20  # the header row and a page
        rows = [json.loads(line) for line in b"".join(download.streaming_content).splitlines()]
        assert len(rows) == 25 and rows[0]["request"] == '{"n": 24}'
        second = client.get(f"{BASE}/samples/", {"page": 2})
        assert second.content.decode().count("<tr>") == 1 + 5
    detail = client.get(f"{BASE}/")
    shows = READERS[who] == 200
    assert detail.status_code == (404 if who == "charlie" else 200)
    assert (b'id="sample-rows"' in detail.content) == shows


def test_anonymous_is_sent_to_log_in(kept):
    assert Client().get(f"{BASE}/samples/").status_code == 302
    assert Client().get(f"{BASE}/samples.jsonl").status_code == 302


def test_the_download_keeps_to_the_time_range(personas, kept):
    old = CallSample.objects.create(
        deployment=kept, at=timezone.now() - timedelta(days=2), status=500, latency_ms=1,
        content_type="text/csv", request_body=b"x", response_body=b"y",
    )  # fmt: skip
    client = Client()
    client.force_login(personas.bob)
    until = (timezone.now() - timedelta(days=1)).isoformat()
    answer = client.get(f"{BASE}/samples.jsonl", {"until": until})
    rows = [json.loads(line) for line in b"".join(answer.streaming_content).splitlines()]
    assert [row["id"] for row in rows] == [old.pk]
    assert client.get(f"{BASE}/samples.jsonl", {"since": "yesterday"}).status_code == 400


@pytest.mark.parametrize("who", list(READERS))
def test_who_reads_the_samples_through_the_api(personas, kept, api, who):
    client = api(who)
    answer = client.get(f"/api/v1/deployments/{kept.pk}/samples/")
    assert answer.status_code == READERS[who]
    if READERS[who] == 200:
        body = answer.json()
        assert body["count"] == 25 and len(body["results"]) == 25
        assert body["results"][0]["request"] == '{"n": 24}'


@pytest.mark.parametrize(
    "who, code", [("alice", 200), ("bob", 200), ("root", 200), ("vera", 403), ("charlie", 404)]
)
def test_who_sets_sampling_through_the_api(personas, deployment, api, who, code):
    client = api(who)
    answer = client.post(
        f"/api/v1/deployments/{deployment.pk}/sampling/", {"fraction": 0.25, "retention_days": 5}
    )
    assert answer.status_code == code
    deployment.refresh_from_db()
    assert deployment.sample_fraction == (0.25 if code == 200 else 0)


def test_the_api_refuses_bad_settings_per_field(personas, deployment, api, settings):
    settings.TALLER_SERVE_SAMPLE_MAX_DAYS = 10
    client = api("bob")
    url = f"/api/v1/deployments/{deployment.pk}/sampling/"
    answer = client.post(url, {"fraction": 1.5, "retention_days": 0})
    assert answer.status_code == 400 and {"fraction", "retention_days"} <= set(answer.json())
    answer = client.post(url, {"fraction": 0.5, "retention_days": 11})
    assert answer.status_code == 400 and "retention_days" in json.dumps(answer.json())
    assert client.get(f"/api/v1/deployments/{deployment.pk}/samples/", {"since": "soon"}).status_code == 400
