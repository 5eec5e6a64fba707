"""The production settings as the image runs them: static files collected with DEBUG off, gunicorn
started with the Dockerfile's command, pages signed in behind a TLS-terminating proxy (which sends
``X-Forwarded-Proto: https``), and every stylesheet and script those pages name answering 200."""

import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connection

from clusterjobs.models import JobStatus
from tests.clusterjobs.factories import JobFactory
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
PROXY = {"X-Forwarded-Proto": "https"}
PASSWORD = "a-production-password-42"


class Assets(HTMLParser):
    """What a page has the browser load: every <link href> and <script src> (data: URLs aside)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        url = attrs.get("href") if tag == "link" else attrs.get("src") if tag == "script" else None
        if url and not url.startswith("data:"):
            self.urls.append(url)


def assets_of(html: str) -> list[str]:
    parser = Assets()
    parser.feed(html)
    return parser.urls


def dockerfile_command(port: int) -> list[str]:
    """The image's CMD, bound to a free local port instead of 0.0.0.0:8000."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    command = json.loads(re.search(r"^CMD (.+)$", dockerfile, re.M).group(1))
    assert "0.0.0.0:8000" in command
    command = [f"127.0.0.1:{port}" if part == "0.0.0.0:8000" else part for part in command]
    return [str(Path(sys.executable).with_name(command[0])), *command[1:]]


def production_env(static_root: Path) -> dict[str, str]:
    """What a production host sets, with the test run's database (which this test's data is in)."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    env.update(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        CELERY_BROKER_URL=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"),
        CACHE_URL=os.environ.get("CACHE_URL", "redis://127.0.0.1:6379/1"),
        MLFLOW_TRACKING_URI=f"http://127.0.0.1:{free_port()}",  # the pages tested need no MLflow
        TALLER_PUBLIC_URL="https://127.0.0.1",
        STATIC_ROOT=str(static_root),
        PYTHONPATH=str(ROOT),
    )
    return env


def collectstatic(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def wait_for_answer(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    """Until the server answers at all: /healthz says 503 here, MLflow being left out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"gunicorn exited with {process.returncode}"
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout} s")


@pytest.fixture
def gunicorn(tmp_path):
    """Start the Dockerfile's gunicorn with an environment; stop every one at the end."""
    started: list[subprocess.Popen] = []

    def start(env: dict[str, str]) -> str:
        port = free_port()
        log = open(tmp_path / f"gunicorn-{port}.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            dockerfile_command(port),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        wait_for_answer(f"{url}/healthz", process)
        return url

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Browser:
    """requests, as a browser behind the TLS proxy: the cookies are Secure, so the jar (which keeps
    them for https only) is replaced by a Cookie header of our own."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {**PROXY, **kwargs.pop("headers", {})}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        response = requests.request(
            method, urljoin(self.base, path), headers=headers, allow_redirects=False, timeout=30, **kwargs
        )
        self.cookies.update(response.cookies.get_dict())
        return response


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_pages_and_their_assets_under_gunicorn(personas, settings, tmp_path, gunicorn):
    # The gunicorn process checks passwords with the production hashers, not the tests' fast one.
    hasher = PBKDF2PasswordHasher()
    personas.bob.password = hasher.encode(PASSWORD, hasher.salt())
    personas.bob.save(update_fields=["password"])
    job = JobFactory(project=personas.project, submitter=personas.bob, status=JobStatus.QUEUED)

    env = production_env(tmp_path / "staticfiles")
    collected = collectstatic(env)
    assert collected.returncode == 0, collected.stderr[-3000:]
    assert (tmp_path / "staticfiles" / "staticfiles.json").exists()
    base = gunicorn(env)
    browser = Browser(base)

    # Without the proxy's header every page is redirected to https, /healthz excepted.
    assert requests.get(f"{base}/accounts/login/", allow_redirects=False, timeout=30).status_code == 301
    health = requests.get(f"{base}/healthz", timeout=30).json()
    assert health["static"] == "ok" and health["database"] == "ok"

    login = browser.request("GET", "/accounts/login/")
    assert login.status_code == 200, login.text[:2000]
    pages = {"/accounts/login/": login.text}
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
    signed_in = browser.request(
        "POST",
        "/accounts/login/",
        data={"username": "bob", "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": f"https://127.0.0.1:{base.rsplit(':', 1)[1]}/accounts/login/"},
    )
    assert signed_in.status_code == 302, signed_in.text[:2000]
    assert "sessionid" in browser.cookies

    for path in ["/projects/genomics/", f"/jobs/{job.pk}/", "/projects/genomics/quota/"]:
        page = browser.request("GET", path)
        assert page.status_code == 200, (path, page.text[:2000])
        pages[path] = page.text

    fetched = set()
    for path, html in pages.items():
        urls = assets_of(html)
        assert any(url.endswith(".css") for url in urls) and any(url.endswith(".js") for url in urls), path
        for url in urls:
            if url.startswith("/static/"):
                # Named through the manifest: pico.min.<hash>.css
                assert re.search(r"\.[0-9a-f]{12}\.(css|js)$", url), url
            if url in fetched:
                continue
            asset = browser.request("GET", url)
            assert asset.status_code == 200, (path, url, asset.status_code)
            assert asset.content, url
            fetched.add(url)
    chart = next(url for url in fetched if "chart.umd.min" in url)
    source_map = re.search(r"sourceMappingURL=(\S+)", browser.request("GET", chart).text).group(1)
    assert browser.request("GET", urljoin(chart, source_map)).status_code == 200


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_healthz_reports_a_missing_static_manifest(tmp_path, gunicorn):
    """Without collected static files, pages answer 500: a probe must see it."""
    base = gunicorn(production_env(tmp_path / "nothing-collected"))
    assert requests.get(f"{base}/accounts/login/", headers=PROXY, timeout=30).status_code == 500
    response = requests.get(f"{base}/healthz", timeout=30)
    assert response.status_code == 503
    assert response.json()["static"].startswith("down: FileNotFoundError: no static files manifest")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_serving_path_under_gunicorn_refuses_a_revoked_key_in_every_worker(personas, tmp_path, gunicorn):
    """The Dockerfile's workers each remember a key they have served (deployments/known_keys.py);
    the revocation, committed here, reaches all of them from their next call. Over plain HTTP the
    serving path is sent to https like any page (its short way starts after SecurityMiddleware)."""
    from http.server import ThreadingHTTPServer

    from deployments import keys
    from deployments.models import Deployment, DeploymentStatus
    from tests.deployments.test_serving_path import ModelServer

    model = ThreadingHTTPServer(("127.0.0.1", 0), ModelServer)
    threading.Thread(target=model.serve_forever, daemon=True).start()
    try:
        deployment = Deployment.objects.create(
            project=personas.project, name="digits", model_name="genomics.digits", version="1",
            serving_version="1", status=DeploymentStatus.RUNNING, backend="local",
            address=f"http://127.0.0.1:{model.server_address[1]}", created_by=personas.bob,
        )  # fmt: skip
        key, raw = keys.create_key(personas.bob, deployment, "demo page")
        url = f"{gunicorn(production_env(tmp_path / 'nothing-collected'))}/serve/genomics/digits/invocations"

        def call(**headers) -> requests.Response:
            return requests.post(
                url, json={"inputs": [[1, 2], [3, 4]]}, allow_redirects=False, timeout=30,
                headers={"Authorization": f"Token {raw}", **headers},
            )  # fmt: skip

        assert call().status_code == 301
        # Each call is a new connection (gunicorn's sync workers close them): the calls spread
        # over the workers, and every worker that answers remembers the key.
        served = [call(**PROXY) for _ in range(12)]
        assert [answer.status_code for answer in served] == [200] * 12
        assert served[0].json() == {"predictions": [2]}
        keys.revoke_key(personas.alice, key)
        assert [call(**PROXY).status_code for _ in range(12)] == [404] * 12
    finally:
        model.shutdown()
        model.server_close()
