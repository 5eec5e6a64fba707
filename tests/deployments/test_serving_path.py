"""The serving path, /serve/<project>/<deployment>/invocations: who may call (keys, portal
tokens of each persona), what is refused (revoked keys, other projects' tokens, oversized or
malformed bodies, too many calls), what is recorded. The model server behind it is a small HTTP
server in a thread (the real one is in test_local_serving.py)."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.cache import cache
from django.db.models import QuerySet
from django.test import Client
from django.utils import timezone

from deployments import keys, known_keys
from deployments.models import Deployment, DeploymentKey, DeploymentStatus, TrafficMinute
from deployments.traffic import flush
from portal.accounts.actions import create_token

from ..factories import ProjectFactory

pytestmark = pytest.mark.django_db


class ModelServer(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers["Content-Type"] == "text/csv":
            answer = {"predictions": [len(body.splitlines()) - 1]}
        else:
            answer = {"predictions": [len(json.loads(body)["inputs"])]}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def upstream():
    server = ThreadingHTTPServer(("127.0.0.1", 0), ModelServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def deployment(personas, upstream, settings) -> Deployment:
    settings.TALLER_SERVE_FLUSH_SECONDS = 0
    return Deployment.objects.create(
        project=personas.project,
        name="digits",
        model_name="genomics.digits",
        version="1",
        serving_version="1",
        status=DeploymentStatus.RUNNING,
        backend="local",
        address=upstream,
        created_by=personas.bob,
    )


def call(key: str | None, body=b'{"inputs": [[1, 2], [3, 4]]}', content_type="application/json", url=None):
    headers = {"HTTP_AUTHORIZATION": f"Token {key}"} if key else {}
    url = url or "/serve/genomics/digits/invocations"
    return Client().post(url, body, content_type=content_type, **headers)


def content(response) -> dict:
    return json.loads(b"".join(response.streaming_content) if response.streaming else response.content)


# Decided (README, "Deploying a model"): the portal token of anyone who may see the project calls
# its deployments; a viewer is a project member with read access, and a call changes nothing.
# Anyone outside the project is told nothing (404), as for a deployment that does not exist.
CALLERS = {"alice": 200, "bob": 200, "vera": 200, "root": 200, "charlie": 404}


@pytest.mark.parametrize("who", list(CALLERS))
def test_portal_tokens_of_those_who_see_the_project_call_it(personas, deployment, who):
    _token, key = create_token(getattr(personas, who), "cli")
    answer = call(key)
    assert answer.status_code == CALLERS[who]
    if CALLERS[who] == 200:
        assert content(answer) == {"predictions": [2]}


def test_a_viewer_calls_a_deployment_but_changes_nothing_of_it(personas, deployment):
    """The viewer's side of the decision, explicitly: the call answers, and the same person can
    neither make a key nor scale nor stop the deployment."""
    _token, key = create_token(personas.vera, "cli")
    answer = call(key)
    assert answer.status_code == 200 and content(answer) == {"predictions": [2]}
    client = Client()
    client.force_login(personas.vera)
    base = "/projects/genomics/deployments/digits"
    assert client.post(f"{base}/keys/", {"name": "mine"}).status_code == 403
    assert client.post(f"{base}/scale/", {"replicas": "2"}).status_code == 403
    assert client.post(f"{base}/stop/").status_code == 403
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.RUNNING and not deployment.keys.exists()


def test_anonymous_a_jobs_token_and_another_projects_token_are_refused(personas, deployment):
    assert call(None).status_code == 401
    physics = ProjectFactory(slug="physics")
    assert call(create_token(personas.root, "physics", scope=physics)[1]).status_code == 404
    assert call(create_token(personas.bob, "job 1", project=personas.project)[1]).status_code == 404
    assert call(create_token(personas.root, "genomics", scope=personas.project)[1]).status_code == 200


def test_a_deployment_key_calls_until_revoked_and_only_its_deployment(personas, deployment):
    key, raw = keys.create_key(personas.bob, deployment, "demo page")
    answer = call(raw, b"a,b\n1,2\n3,4\n5,6\n", content_type="text/csv")
    assert answer.status_code == 200 and content(answer) == {"predictions": [3]}
    other = Deployment.objects.create(
        project=personas.project, name="other", model_name="genomics.digits", version="1",
        status=DeploymentStatus.RUNNING, address=deployment.address, created_by=personas.bob,
    )  # fmt: skip
    assert call(raw, url="/serve/genomics/other/invocations").status_code == 404
    assert call(keys.create_key(personas.bob, other, "x")[1]).status_code == 404
    keys.revoke_key(personas.alice, key)
    assert call(raw).status_code == 404


def test_keys_are_rate_limited(personas, deployment, settings, still_clock):
    settings.TALLER_SERVE_KEY_RATE = "2/h"
    cache.clear()  # the counts live in the shared cache, which outlives a test's database
    _key, raw = keys.create_key(personas.bob, deployment, "demo page")
    assert [call(raw).status_code for _ in range(3)] == [200, 200, 429]


@pytest.fixture(params=["redis", "file"])
def shared_cache(request, settings, tmp_path):
    """The cache the serving processes share: Redis, or the embedded default's files."""
    if request.param == "file":
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                "LOCATION": str(tmp_path),
            }
        }
    return request.param


def test_a_call_is_counted_once_when_the_key_is_looked_up_again(
    personas, deployment, settings, shared_cache, still_clock
):
    settings.TALLER_SERVE_KEY_RATE = "3/h"
    cache.clear()
    _key, raw = keys.create_key(personas.bob, deployment, "demo page")
    assert call(raw).status_code == 200  # looked up, remembered
    cache.set(known_keys.GENERATION, "changed elsewhere")  # another process changed a key
    assert call(raw).status_code == 200  # counted, found stale, looked up again: counted once
    assert [call(raw).status_code for _ in range(2)] == [200, 429]


def test_a_known_key_is_served_without_a_query(personas, deployment, settings, django_assert_num_queries):
    settings.TALLER_SERVE_FLUSH_SECONDS = 3600  # the traffic counts' own write, not this call's
    _key, raw = keys.create_key(personas.bob, deployment, "demo page")
    with django_assert_num_queries(1):  # the key, joined to its deployment
        assert call(raw).status_code == 200
    with django_assert_num_queries(0):
        assert call(raw).status_code == 200


def test_what_another_process_changes_is_heard_from_the_next_call(personas, deployment, shared_cache):
    """Another serving process revokes the key, then stops the deployment: the rows change and,
    once committed, the shared generation (what ``known_keys.forget`` does there). This process,
    which remembers the key, refuses it from its next call."""
    key, raw = keys.create_key(personas.bob, deployment, "demo page")
    assert call(raw).status_code == 200
    QuerySet.update(DeploymentKey.objects.filter(pk=key.pk), revoked_at=timezone.now())
    cache.set(known_keys.GENERATION, "revoked elsewhere")
    assert call(raw).status_code == 404
    QuerySet.update(DeploymentKey.objects.filter(pk=key.pk), revoked_at=None)
    assert call(raw).status_code == 200
    QuerySet.update(Deployment.objects.filter(pk=deployment.pk), status=DeploymentStatus.STOPPED)
    cache.set(known_keys.GENERATION, "stopped elsewhere")
    assert call(raw).status_code == 503


def test_a_change_made_here_is_heard_at_once_and_announced_on_commit(
    personas, deployment, django_capture_on_commit_callbacks
):
    key, raw = keys.create_key(personas.bob, deployment, "demo page")
    assert call(raw).status_code == 200
    before = cache.get(known_keys.GENERATION)
    with django_capture_on_commit_callbacks(execute=True):
        keys.revoke_key(personas.alice, key)
    assert cache.get(known_keys.GENERATION) != before
    assert call(raw).status_code == 404


def test_the_short_way_checks_the_host_and_speaks_the_callers_language(personas, deployment):
    refused = Client().post(
        "/serve/genomics/digits/invocations", b"{}", content_type="application/json", HTTP_HOST="evil.example"
    )
    assert refused.status_code == 400  # Django's answer to a host not in ALLOWED_HOSTS
    spanish = Client().post(
        "/serve/genomics/digits/invocations",
        b"{}",
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="es",
    )
    assert spanish.status_code == 401 and "Envíe" in content(spanish)["message"]
    _key, raw = keys.create_key(personas.bob, deployment, "demo page")
    answer = call(raw)
    assert answer.status_code == 200 and answer["X-Frame-Options"] == "DENY"
    assert answer["X-Content-Type-Options"] == "nosniff" and not answer.cookies
    assert Client().get("/serve/genomics/digits/other").status_code == 404


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b"\x00\x01", "application/octet-stream", 415),
        (b'{"inputs": "' + b"x" * 2000 + b'"}', "application/json", 413),
        (b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "application/json", 400),  # too deep
    ],
)
def test_bad_bodies_never_reach_the_model(personas, deployment, settings, body, content_type, status):
    settings.TALLER_SERVE_MAX_BYTES = 1000 if len(body) < 10_000 else 1_000_000
    _token, key = create_token(personas.bob, "cli")
    answer = call(key, body, content_type)
    assert answer.status_code == status
    assert "message" in content(answer)
    assert not TrafficMinute.objects.exists()


def test_json_is_read_as_the_model_server_reads_it(personas, deployment):
    """NaN is not JSON by the RFC, but Python's json module (and so MLflow's server) takes it for a
    missing value: it reaches the model, as it did before the fast parser."""
    _token, key = create_token(personas.bob, "cli")
    answer = call(key, b'{"inputs": [[NaN, 2], [3, Infinity]]}')
    assert answer.status_code == 200 and content(answer) == {"predictions": [2]}


def test_a_stopped_deployment_answers_503_and_calls_are_counted(personas, deployment, still_clock):
    """Calls are counted per minute: with the clock stopped, all of them in one."""
    _token, key = create_token(personas.bob, "cli")
    for _ in range(3):
        assert call(key).status_code == 200
    flush()
    minute = TrafficMinute.objects.get(deployment=deployment)
    assert (minute.requests, minute.errors, sum(minute.histogram())) == (3, 0, 3)
    Deployment.objects.filter(pk=deployment.pk).update(address="http://127.0.0.1:9")  # nothing listens
    answer = call(key)
    assert (answer.status_code, answer["Retry-After"]) == (503, "5")  # restarting, or gone: try again
    flush()
    minute.refresh_from_db()
    assert (minute.requests, minute.errors) == (4, 1)
    Deployment.objects.filter(pk=deployment.pk).update(status=DeploymentStatus.STOPPED)
    assert call(key).status_code == 503


def test_old_minutes_are_forgotten(personas, deployment, settings):
    from datetime import timedelta

    from django.utils import timezone

    from deployments.traffic import prune

    settings.TALLER_SERVE_TRAFFIC_DAYS = 7
    now = timezone.now().replace(second=0, microsecond=0)
    for days in (8, 6):
        TrafficMinute.objects.create(deployment=deployment, minute=now - timedelta(days=days), requests=1)
    assert prune(now) == 1
    assert [row.minute for row in TrafficMinute.objects.all()] == [now - timedelta(days=6)]


def test_a_key_opens_its_deployment_only_under_its_own_project(personas, deployment):
    """The key's lookup joins the key, the deployment and the project's slug in one query: the
    same deployment name in another project is not opened by this project's key."""
    elsewhere = ProjectFactory(slug="elsewhere", requested_by=personas.alice)
    Deployment.objects.create(
        project=elsewhere, name="digits", model_name="elsewhere.digits", version="1",
        status=DeploymentStatus.RUNNING, address=deployment.address, created_by=personas.alice,
    )  # fmt: skip
    _key, raw = keys.create_key(personas.bob, deployment, "demo page")
    assert call(raw, url="/serve/elsewhere/digits/invocations").status_code == 404
    assert call(raw).status_code == 200


def test_a_deployment_that_moved_is_asked_at_its_new_address_once(personas, deployment, upstream):
    """What the process knows of the key names a server that is gone (its port closed); the
    deployment's address in the database is the new one, written by another process whose change
    this one has not heard of yet: the call reaches it."""
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        gone = f"http://127.0.0.1:{closed.getsockname()[1]}"
    _key, raw = keys.create_key(personas.bob, deployment, "demo page")
    Deployment.objects.filter(pk=deployment.pk).update(address=gone)
    assert call(raw).status_code == 503  # no newer address: the caller is told to try again
    # The move, as another process made it: a plain UPDATE, which this process does not hear of.
    QuerySet.update(Deployment.objects.filter(pk=deployment.pk), address=upstream)
    answer = call(raw)
    assert answer.status_code == 200 and content(answer) == {"predictions": [2]}


class Unanswering(BaseHTTPRequestHandler):
    """A model server that takes the call and gives no answer: it hangs up, or waits past the
    portal's timeout."""

    def do_POST(self):  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.path.startswith("/slow"):
            time.sleep(3)
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [("/drop", 502, "dropped the call"), ("/slow", 504, "did not answer within 1 seconds")],
)
def test_a_call_the_model_server_took_and_did_not_answer(
    personas, deployment, settings, path, status, message
):
    """Unlike a server that takes no connection (503, try again), the model may have run: the
    caller is told which, and is not asked to retry."""
    settings.TALLER_SERVE_TIMEOUT_SECONDS = 1
    server = ThreadingHTTPServer(("127.0.0.1", 0), Unanswering)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        Deployment.objects.filter(pk=deployment.pk).update(
            address=f"http://127.0.0.1:{server.server_address[1]}{path}"
        )
        _token, key = create_token(personas.bob, "cli")
        answer = call(key)
    finally:
        server.shutdown()
        server.server_close()
    assert answer.status_code == status and "Retry-After" not in answer
    assert message in content(answer)["message"]
    flush()
    assert TrafficMinute.objects.get(deployment=deployment).errors == 1
