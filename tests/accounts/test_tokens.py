"""API tokens: created on the profile page (shown once, stored hashed, optionally expiring or\nscoped to a project), revoked, issued from the CLI."""

import datetime
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
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.test import APIRequestFactory

from portal.accounts.actions import create_token
from portal.accounts.authentication import TokenAuthentication
from portal.accounts.models import ApiToken
from tests.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def authenticate(header: str):
    request = APIRequestFactory().get("/api/v1/", HTTP_AUTHORIZATION=header)
    return TokenAuthentication().authenticate(request)


def create_on_page(client, **fields):
    """Create a token on the profile page as a browser does: POST, then follow the redirect."""
    response = client.post(reverse("accounts:profile"), {"name": "laptop", **fields})
    assert response.status_code == 302, response.content.decode()[:500]
    assert response.url == reverse("accounts:profile") + "#new-token"
    return client.get(response.url)


def test_profile_creates_a_token_shown_once_and_stored_hashed(personas):
    client = personas.client("alice")
    response = create_on_page(client)
    key = response.context["new_key"]
    page = response.content.decode()
    assert key.startswith("tlr_") and key in page
    token = ApiToken.objects.get(user=personas.alice)
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in {token.prefix, token.key_hash, token.name}
    # A reload shows the list without the key, and creates nothing.
    again = client.get(reverse("accounts:profile")).content.decode()
    assert key not in again and token.prefix in again and "laptop" in again
    assert ApiToken.objects.count() == 1

    user, used = authenticate(f"Token {key}")
    assert (user, used) == (personas.alice, token)
    assert authenticate(f"Bearer {key}")[0] == personas.alice


def test_the_new_token_comes_with_snippets_and_copy_buttons_without_inline_script(personas):
    response = create_on_page(personas.client("alice"))
    key = response.context["new_key"]
    page = response.content.decode()
    assert f"taller login --url http://testserver --token {key}" in page
    assert "export MLFLOW_TRACKING_URI=http://testserver/mlflow" in page
    assert f"export MLFLOW_TRACKING_TOKEN={key}" in page
    for target in ("new-token-key", "new-token-cli", "new-token-mlflow"):
        assert f'data-copy="{target}"' in page
    assert "/static/js/copy.js" in page
    assert "onclick" not in page


def test_a_token_needs_a_name(personas):
    response = personas.client("alice").post(reverse("accounts:profile"), {"name": ""})
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not ApiToken.objects.exists()


def test_a_token_may_expire_at_the_end_of_a_chosen_day(personas):
    client = personas.client("alice")
    day = timezone.localdate() + datetime.timedelta(days=3)
    page = create_on_page(client, expires_on=day.isoformat()).content.decode()
    token = ApiToken.objects.get()
    assert timezone.localtime(token.expires_at).date() == day + datetime.timedelta(days=1)
    assert timezone.localtime(token.expires_at).time() == datetime.time()
    assert 'type="date"' in page

    past = timezone.localdate() - datetime.timedelta(days=1)
    response = client.post(reverse("accounts:profile"), {"name": "old", "expires_on": past.isoformat()})
    assert "Choose today or a later day." in response.content.decode()
    assert ApiToken.objects.count() == 1


def test_an_expired_token_is_listed_as_expired_and_refused(personas):
    token, key = create_token(
        personas.alice, "old", expires_at=timezone.now() - datetime.timedelta(minutes=1)
    )
    page = personas.client("alice").get(reverse("accounts:profile")).content.decode()
    assert "old" in page and "expired" in page
    with pytest.raises(AuthenticationFailed):
        authenticate(f"Token {key}")
    assert Client().get("/api/v1/projects/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401


def test_a_token_may_be_scoped_to_a_project_the_person_sees(personas):
    other = ProjectFactory(slug="physics")
    client = personas.client("bob")
    page = client.get(reverse("accounts:profile")).content.decode()
    assert 'value="genomics"' in page and 'value="physics"' not in page
    create_on_page(client, project="genomics")
    assert ApiToken.objects.get().project == personas.project
    assert not ApiToken.objects.get().workload

    response = client.post(reverse("accounts:profile"), {"name": "x", "project": other.slug})
    assert "Select a valid choice" in response.content.decode()
    assert ApiToken.objects.count() == 1


def test_a_revoked_token_no_longer_authenticates(personas):
    client = personas.client("alice")
    key = create_on_page(client).context["new_key"]
    token = ApiToken.objects.get()
    response = client.post(reverse("accounts:revoke-token", args=[token.pk]), follow=True)
    assert "Token “laptop” revoked." in response.content.decode()
    assert "No tokens yet." in response.content.decode()
    with pytest.raises(AuthenticationFailed):
        authenticate(f"Token {key}")


def test_nobody_revokes_another_persons_token(personas):
    token, key = create_token(personas.alice, "mine")
    response = personas.client("bob").post(reverse("accounts:revoke-token", args=[token.pk]))
    assert response.status_code == 404
    assert authenticate(f"Token {key}")[0] == personas.alice


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
