"""Signing in and out, and the rate limit on sign-in attempts."""

import pytest
from django.core.cache import cache
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()  # the rate limit counts in the real cache
    yield
    cache.clear()


def test_login_and_logout(personas, client):
    page = client.get(reverse("accounts:login"))
    assert page.status_code == 200
    assert "Sign in with" not in page.content.decode()  # no single sign-on unless configured
    response = client.post(reverse("accounts:login"), {"username": "alice", "password": "secret-pass-123"})
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    assert client.get(reverse("dashboard")).status_code == 200
    assert client.post(reverse("accounts:logout")).status_code == 302
    assert client.get(reverse("dashboard")).status_code == 302


def test_wrong_password_says_so(personas, client):
    response = client.post(reverse("accounts:login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "didn't match" in response.content.decode()


def test_login_is_rate_limited(personas, client, settings):
    settings.LOGIN_RATE = "3/m"
    url = reverse("accounts:login")
    for _ in range(3):
        assert client.post(url, {"username": "alice", "password": "wrong"}).status_code == 200
    response = client.post(url, {"username": "alice", "password": "secret-pass-123"})
    assert response.status_code == 429
    assert "Too many sign-in attempts" in response.content.decode()
    assert client.get(reverse("dashboard")).status_code == 302  # not signed in
    # The limit is per username as well as per address: another address trying alice is refused too.
    other = client.__class__(REMOTE_ADDR="10.0.0.9")
    assert other.post(url, {"username": "alice", "password": "secret-pass-123"}).status_code == 429
    # ... while someone else from that address still signs in.
    response = other.post(url, {"username": "bob", "password": "secret-pass-123"})
    assert response.status_code == 302
