"""/metrics answers only the configured scrapers: an allowed address, the bearer token, or both
when both are set; everyone else is refused (403 for an address, 401 for a missing token)."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

TOKEN = "scrape-token-0123456789"


def get(address: str = "127.0.0.1", token: str | None = None, forwarded: str | None = None):
    headers = {"REMOTE_ADDR": address}
    if token is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    if forwarded is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded
    return Client().get("/metrics", **headers)


def test_nobody_configured_refuses_everyone(settings):
    settings.TALLER_METRICS_ALLOWED_ADDRESSES = []
    settings.TALLER_METRICS_TOKEN = ""
    response = get()
    assert response.status_code == 403
    assert b"taller_jobs" not in response.content
    assert "no scraper is configured" in response.content.decode()


def test_allowed_address(settings):
    settings.TALLER_METRICS_ALLOWED_ADDRESSES = ["10.1.0.0/16", "::1"]
    settings.TALLER_METRICS_TOKEN = ""
    allowed = get("10.1.2.3")
    assert allowed.status_code == 200
    assert allowed["Content-Type"].startswith("text/plain; version=0.0.4")
    assert b"# TYPE taller_jobs gauge" in allowed.content
    assert get("::1").status_code == 200
    refused = get("10.2.0.1")
    assert refused.status_code == 403
    assert b"taller_jobs" not in refused.content


def test_token(settings):
    settings.TALLER_METRICS_ALLOWED_ADDRESSES = []
    settings.TALLER_METRICS_TOKEN = TOKEN
    assert get("192.0.2.7", token=TOKEN).status_code == 200
    for wrong in (None, "", TOKEN + "x", TOKEN[:-1]):
        response = get("192.0.2.7", token=wrong)
        assert response.status_code == 401, wrong
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert b"taller_jobs" not in response.content
    # A token under another scheme is not a bearer token.
    other = Client().get("/metrics", REMOTE_ADDR="192.0.2.7", HTTP_AUTHORIZATION=f"Token {TOKEN}")
    assert other.status_code == 401


def test_both_must_hold_when_both_are_set(settings):
    settings.TALLER_METRICS_ALLOWED_ADDRESSES = ["10.1.0.0/16"]
    settings.TALLER_METRICS_TOKEN = TOKEN
    assert get("10.1.0.9", token=TOKEN).status_code == 200
    assert get("10.1.0.9").status_code == 401
    assert get("10.9.0.9", token=TOKEN).status_code == 403


def test_client_address_behind_trusted_proxies(settings):
    settings.TALLER_METRICS_ALLOWED_ADDRESSES = ["10.1.0.0/16"]
    settings.TALLER_METRICS_TOKEN = ""
    # The proxy on the loopback is trusted: the scraper is the address it saw.
    settings.TALLER_TRUSTED_PROXIES = ["127.0.0.1"]
    assert get("127.0.0.1", forwarded="10.1.4.4").status_code == 200
    assert get("127.0.0.1", forwarded="203.0.113.9").status_code == 403
    # A client that is not a trusted proxy cannot claim an allowed address.
    assert get("203.0.113.9", forwarded="10.1.4.4").status_code == 403
    # Without trusted proxies, the proxy's own address is the client (and is not allowed here).
    settings.TALLER_TRUSTED_PROXIES = []
    assert get("127.0.0.1", forwarded="10.1.4.4").status_code == 403


def test_refusal_in_spanish(settings):
    settings.TALLER_METRICS_ALLOWED_ADDRESSES = []
    settings.TALLER_METRICS_TOKEN = TOKEN
    response = Client().get("/metrics", REMOTE_ADDR="192.0.2.7", HTTP_ACCEPT_LANGUAGE="es")
    assert response.status_code == 401
    assert "token" in response.content.decode() and "Send" not in response.content.decode()


def test_only_get(settings):
    settings.TALLER_METRICS_ALLOWED_ADDRESSES = ["127.0.0.1"]
    settings.TALLER_METRICS_TOKEN = ""
    assert Client().post("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 405
