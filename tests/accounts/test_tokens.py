"""API tokens: created on the profile page (shown once, stored hashed), revoked, issued from the CLI."""

import hashlib
import os
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.urls import reverse
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.test import APIRequestFactory

from portal.accounts.authentication import TokenAuthentication
from portal.accounts.models import ApiToken
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def authenticate(header: str):
    request = APIRequestFactory().get("/api/v1/", HTTP_AUTHORIZATION=header)
    return TokenAuthentication().authenticate(request)


def test_profile_creates_a_token_shown_once_and_stored_hashed(personas):
    client = personas.client("alice")
    response = client.post(reverse("accounts:profile"), {"name": "laptop"})
    assert response.status_code == 200
    key = response.context["new_key"]
    assert key.startswith("tlr_") and key in response.content.decode()
    token = ApiToken.objects.get(user=personas.alice)
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in {token.prefix, token.key_hash, token.name}
    again = client.get(reverse("accounts:profile")).content.decode()
    assert key not in again and token.prefix in again and "laptop" in again

    user, used = authenticate(f"Token {key}")
    assert (user, used) == (personas.alice, token)
    assert authenticate(f"Bearer {key}")[0] == personas.alice


def test_a_token_needs_a_name(personas):
    response = personas.client("alice").post(reverse("accounts:profile"), {"name": ""})
    assert "This field is required." in response.content.decode()
    assert not ApiToken.objects.exists()


def test_a_revoked_token_no_longer_authenticates(personas):
    client = personas.client("alice")
    key = client.post(reverse("accounts:profile"), {"name": "laptop"}).context["new_key"]
    token = ApiToken.objects.get()
    response = client.post(reverse("accounts:revoke-token", args=[token.pk]), follow=True)
    assert "Token “laptop” revoked." in response.content.decode()
    assert "No tokens yet." in response.content.decode()
    with pytest.raises(AuthenticationFailed):
        authenticate(f"Token {key}")


@pytest.mark.parametrize("header", ["Token", "Token a b", "Basic abc", "Token tlr_not-a-real-key"])
def test_bad_headers_are_refused(db, header):
    with pytest.raises(AuthenticationFailed):
        authenticate(header)


def test_issue_token_prints_a_key_that_authenticates(personas, capsys):
    call_command("issue_token", "bob")
    key = capsys.readouterr().out.strip()
    assert authenticate(f"Token {key}")[0] == personas.bob
    assert ApiToken.objects.get(user=personas.bob).name == "issued from the command line"


def test_issue_token_for_an_unknown_user_fails_with_one_line(db):
    with pytest.raises(CommandError, match="no user 'ghost'"):
        call_command("issue_token", "ghost")


def manage(*args: str) -> subprocess.CompletedProcess:
    """Run manage.py as an admin types it, on the test database."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DATABASE_URL": url},
    )


@pytest.mark.django_db(transaction=True)
def test_issue_token_command_line():
    bob = UserFactory(username="bob")
    result = manage("issue_token", "bob")
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    assert authenticate(f"Token {key}")[0] == bob

    result = manage("issue_token", "ghost")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == ["CommandError: no user 'ghost'"]


def test_a_key_with_its_last_character_changed_is_refused(personas, capsys):
    """Only the whole key opens the API: the right prefix with another last character is a 401."""
    call_command("issue_token", "alice")
    key = capsys.readouterr().out.strip()
    client = Client()
    url = "/api/v1/projects/"
    assert client.get(url, HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    for last in {"A", "b", "0", "-"} - {key[-1]}:
        forged = key[:-1] + last
        response = client.get(url, HTTP_AUTHORIZATION=f"Token {forged}")
        assert response.status_code == 401, forged
        assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {forged}").status_code == 401
