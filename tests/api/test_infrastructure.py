"""What every endpoint shares: authentication errors, JSON 404s, throttling, the schema and its docs."""

import re
import zoneinfo
from datetime import UTC, datetime

import pytest
from django.contrib.staticfiles import finders
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from rest_framework import serializers

from portal.accounts.actions import create_token, revoke_token
from portal.throttling import UserRateThrottle
from portal.times import api_time

URL = "/api/v1/projects/"


@pytest.mark.parametrize(
    "header",
    ["Token", "Token tlr_unknown", "Basic YWxpY2U6cHc=", "Token a b", "Bearer tlr_nope"],
)
def test_bad_credentials_are_401_with_a_message(client, personas, header):
    response = client.get(URL, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["detail"]


def test_revoked_and_expired_tokens_are_401(client, personas):
    token, key = create_token(personas.bob, "t")
    assert client.get(URL, HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    revoke_token(token)
    response = client.get(URL, HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid, expired or revoked token."}
    _token, key = create_token(personas.bob, "t", expires_at=timezone.now())
    assert client.get(URL, HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 401


def test_inactive_user_token_is_401(client, personas):
    _token, key = create_token(personas.bob, "t")
    personas.bob.is_active = False
    personas.bob.save()
    assert client.get(URL, HTTP_AUTHORIZATION=f"Token {key}").status_code == 401


@pytest.mark.parametrize(
    "path", ["/api/v1/nothing/", "/api/v2/projects/", "/api/", "/api/v1/projects/UPPER/"]
)
def test_unknown_api_addresses_are_json_404(path):
    for method in ("get", "post", "delete"):
        response = getattr(Client(enforce_csrf_checks=True), method)(path)
        assert response.status_code == 404
        assert response.json() == {"detail": "No such API endpoint."}


def test_throttled_requests_are_429_with_retry_after(api, monkeypatch, still_clock):
    cache.clear()  # the throttle's history lives in the cache, which outlives the test database
    monkeypatch.setitem(UserRateThrottle.THROTTLE_RATES, "user", "3/hour")
    bob = api("bob")
    assert [bob.get(URL).status_code for _ in range(3)] == [200, 200, 200]
    response = bob.get(URL)
    assert response.status_code == 429
    assert "detail" in response.json()
    assert int(response["Retry-After"]) > 0


@pytest.mark.parametrize("cache_backend", ["redis", "file"])
def test_the_throttle_counts_each_window_apart(api, monkeypatch, settings, tmp_path, cache_backend):
    """One counter per user and window: a full window refuses until the next one starts, the
    answer says how long that is, and another user's budget is their own."""
    if cache_backend == "file":
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                "LOCATION": str(tmp_path),
            }
        }
    cache.clear()
    monkeypatch.setitem(UserRateThrottle.THROTTLE_RATES, "user", "2/minute")
    now = [600.0 * 1000 + 10]  # 10 s into a minute
    monkeypatch.setattr("portal.throttling.time.time", lambda: now[0])
    bob, vera = api("bob"), api("vera")
    assert [bob.get(URL).status_code for _ in range(3)] == [200, 200, 429]
    assert bob.get(URL)["Retry-After"] == "50"
    assert vera.get(URL).status_code == 200
    now[0] += 50  # the next minute
    assert [bob.get(URL).status_code for _ in range(3)] == [200, 200, 429]


def test_schema_documents_errors_and_closed_request_bodies(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    operations = [
        (path, method, op)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if method in {"get", "post", "patch", "put", "delete"}
    ]
    assert len(operations) >= 9
    for path, method, op in operations:
        assert path.startswith("/api/v1/")
        for status in ("400", "401", "403", "404", "429"):
            assert status in op["responses"], (path, method, status)
        assert op.get("summary"), (path, method)
        assert {"tokenAuth": []} in op["security"]
        for parameter in op.get("parameters", []):
            assert parameter.get("description"), (path, method, parameter["name"])
    components = schema["components"]["schemas"]
    assert components["ProjectCreateRequest"]["additionalProperties"] is False
    assert components["Project"]["description"] == "A research project and your role in it."
    assert components["ProjectStatusEnum"]["enum"] == ["pending", "active", "rejected", "archived"]
    for name, component in components.items():
        for field, prop in component.get("properties", {}).items():
            if name.startswith("Paginated") or name in {"Error"}:
                continue
            assert prop.get("description"), f"{name}.{field} has no description"
    assert schema["components"]["securitySchemes"]["tokenAuth"]["name"] == "Authorization"


def test_docs_page_uses_only_local_assets(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert urls, html
    for url in urls:
        assert not re.match(r"^(https?:)?//", url), url
        assert url.startswith("/static/"), url
        assert finders.find(url.removeprefix("/static/").split("?")[0]), url
    # A CDN host anywhere (cdn.jsdelivr.net, cdnjs.cloudflare.com); not a bare "cdn", which the
    # page's random CSP nonce may contain.
    assert not re.search(r"\bcdn[a-z]*\.[a-z]", html.lower())
    assert "/api/schema/" in html


@pytest.mark.parametrize("zone", [None, "UTC", "Asia/Kolkata", "America/Santiago"])
def test_api_time_is_what_drf_shows(zone):
    field = serializers.DateTimeField()
    with timezone.override(zone and zoneinfo.ZoneInfo(zone)):
        for value in (
            datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=UTC),
            datetime(2026, 7, 1, 0, 0, tzinfo=zoneinfo.ZoneInfo("Europe/Madrid")),
            datetime(2026, 1, 2, 3, 4, 5),  # naive
        ):
            assert api_time(value) == field.to_representation(value)
    assert api_time(None) is None
