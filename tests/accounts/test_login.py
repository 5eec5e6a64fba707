"""Signing in and out, and the rate limit on sign-in attempts."""

import os
import subprocess
import sys

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from portal.accounts.throttle import client_ip

# Every test here that counts attempts counts them in windows of a minute.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("still_clock")]


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


def test_failed_logins_lock_the_username_not_the_user_elsewhere(personas, client, settings):
    settings.LOGIN_RATE = "3/m"
    url = reverse("accounts:login")
    for _ in range(3):
        assert client.post(url, {"username": "alice", "password": "wrong"}).status_code == 200
    response = client.post(url, {"username": "alice", "password": "secret-pass-123"})
    assert response.status_code == 429
    assert "Too many sign-in attempts" in response.content.decode()
    assert client.get(reverse("dashboard")).status_code == 302  # not signed in
    # The limit is per username: another address trying alice is refused too ...
    other = Client(REMOTE_ADDR="10.0.0.9")
    assert other.post(url, {"username": "ALICE", "password": "secret-pass-123"}).status_code == 429
    # ... while someone else from either address still signs in.
    assert other.post(url, {"username": "bob", "password": "secret-pass-123"}).status_code == 302
    assert client.post(url, {"username": "bob", "password": "secret-pass-123"}).status_code == 302


def test_successful_logins_do_not_count(personas, settings):
    settings.LOGIN_RATE = "3/m"
    settings.LOGIN_ADDRESS_RATE = "3/m"
    url = reverse("accounts:login")
    for _ in range(5):
        client = Client()
        assert client.post(url, {"username": "alice", "password": "secret-pass-123"}).status_code == 302


def test_one_address_trying_many_usernames_is_limited(personas, settings):
    """The per-address limit on its own: no username is tried twice, so only it can stop this."""
    settings.LOGIN_ADDRESS_RATE = "5/m"
    url = reverse("accounts:login")
    attacker = Client(REMOTE_ADDR="198.51.100.7")
    for number in range(5):
        response = attacker.post(url, {"username": f"guess{number}", "password": "x"})
        assert response.status_code == 200
    assert attacker.post(url, {"username": "alice", "password": "secret-pass-123"}).status_code == 429
    # Another address is not affected.
    assert (
        Client(REMOTE_ADDR="198.51.100.8")
        .post(url, {"username": "alice", "password": "secret-pass-123"})
        .status_code
        == 302
    )


PROXY = "10.1.0.5"


def via_proxy(client_address: str, **extra) -> Client:
    """A browser at client_address reaching the portal through the reverse proxy."""
    return Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=client_address, **extra)


def test_an_attacker_behind_the_proxy_cannot_lock_out_other_users(personas, settings):
    settings.TALLER_TRUSTED_PROXIES = ["10.1.0.0/24"]
    # The site's number of failures, counted over a day rather than a minute: forty sign-ins (each
    # hashes a password) can take longer than a minute on a busy machine, and the test is about
    # whose address is limited, not about how fast the attempts come.
    settings.LOGIN_ADDRESS_RATE = settings.LOGIN_ADDRESS_RATE.replace("/m", "/d")
    url = reverse("accounts:login")
    attacker = via_proxy("203.0.113.66")
    responses = [
        attacker.post(url, {"username": f"made-up-{number}", "password": "x"}).status_code
        for number in range(40)
    ]
    assert responses[-1] == 429  # the attacker's own address is limited ...
    alice = via_proxy("192.0.2.10")
    response = alice.post(url, {"username": "alice", "password": "secret-pass-123"})
    assert response.status_code == 302  # ... not alice, who comes through the same proxy
    assert alice.get(reverse("dashboard")).status_code == 200


def test_x_forwarded_for_is_read_from_the_right(personas, settings):
    """A client may send its own X-Forwarded-For: the proxy appends, so only the right end counts."""
    settings.TALLER_TRUSTED_PROXIES = ["10.1.0.0/24"]
    settings.LOGIN_ADDRESS_RATE = "3/m"
    url = reverse("accounts:login")
    for number in range(3):
        # Each time claiming another address at the left: all the same client.
        attacker = via_proxy(f"192.0.2.{number}, 203.0.113.66")
        assert attacker.post(url, {"username": f"guess{number}", "password": "x"}).status_code == 200
    assert (
        via_proxy("192.0.2.50, 203.0.113.66")
        .post(url, {"username": "alice", "password": "secret-pass-123"})
        .status_code
        == 429
    )
    # Two trusted proxies in a row: the address the outer one saw is the client's.
    assert (
        via_proxy("203.0.113.66, 10.1.0.9")
        .post(url, {"username": "alice", "password": "secret-pass-123"})
        .status_code
        == 429
    )
    assert (
        via_proxy("192.0.2.10, 10.1.0.9")
        .post(url, {"username": "alice", "password": "secret-pass-123"})
        .status_code
        == 302
    )


def test_a_spoofed_x_forwarded_for_from_an_untrusted_address_changes_nothing(personas, settings):
    settings.TALLER_TRUSTED_PROXIES = ["10.1.0.0/24"]
    settings.LOGIN_ADDRESS_RATE = "3/m"
    url = reverse("accounts:login")
    for number in range(3):
        spoofer = Client(REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR=f"192.0.2.{number}")
        assert spoofer.post(url, {"username": f"guess{number}", "password": "x"}).status_code == 200
    # Every attempt counted against 198.51.100.7, whatever the header claimed ...
    spoofer = Client(REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="192.0.2.99")
    assert spoofer.post(url, {"username": "alice", "password": "secret-pass-123"}).status_code == 429
    # ... and none against the addresses it named.
    assert (
        via_proxy("192.0.2.1").post(url, {"username": "alice", "password": "secret-pass-123"}).status_code
        == 302
    )


def test_without_trusted_proxies_x_forwarded_for_is_ignored(personas, settings):
    settings.TALLER_TRUSTED_PROXIES = []
    settings.LOGIN_ADDRESS_RATE = "2/m"
    url = reverse("accounts:login")
    for number in range(2):
        via_proxy(f"203.0.113.{number}").post(url, {"username": f"guess{number}", "password": "x"})
    assert (
        via_proxy("192.0.2.10").post(url, {"username": "alice", "password": "secret-pass-123"}).status_code
        == 429
    )


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        ("10.1.0.5", "", "10.1.0.5"),  # no header: the proxy itself
        ("10.1.0.5", "203.0.113.66", "203.0.113.66"),
        ("10.1.0.5", "evil, 203.0.113.66", "203.0.113.66"),
        ("10.1.0.5", "203.0.113.66, 10.1.0.9, 10.1.0.8", "203.0.113.66"),
        ("10.1.0.5", "10.1.0.9", "10.1.0.9"),  # every hop a proxy: the furthest one
        ("10.1.0.5", "not-an-address", "10.1.0.5"),
        ("10.1.0.5", "[2001:db8::1]", "2001:db8::1"),
        ("198.51.100.7", "203.0.113.66", "198.51.100.7"),  # not a trusted proxy
        ("fd00::5", "203.0.113.66", "203.0.113.66"),
    ],
)
def test_client_ip(settings, rf, remote, forwarded, expected):
    settings.TALLER_TRUSTED_PROXIES = ["10.1.0.0/24", "fd00::/64"]
    request = rf.get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_a_bad_trusted_proxy_setting_stops_the_portal_from_starting():
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "TALLER_TRUSTED_PROXIES": "10.0.0.0/33",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "TALLER_TRUSTED_PROXIES must list addresses or CIDR blocks, not '10.0.0.0/33'" in result.stderr
