"""Single sign-on against a complete OpenID provider, django-oidc-provider, run by the tests.

The provider is its own Django site in another process on 127.0.0.1 (tests/accounts/oidc_op/):
discovery, authorization behind a real login form, token, userinfo, JWKS and end-session. The
portal is configured from its discovery document. A ``requests`` session plays the person's
browser at the provider; the Django test client plays it at the portal.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlparse

import pytest
import requests
from django.test import Client
from django.urls import reverse

from portal.accounts.models import ExternalIdentity
from tests.conftest import free_port, wait_for_http
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PORTAL = "http://testserver"  # what the test client's requests build absolute URLs with
CLIENT_ID = "taller-portal"
REFUSED = "Sign-in with University login was refused: "
REPO = Path(__file__).resolve().parents[2]


class Provider:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.accounts.oidc_op.settings",
            "TALLER_TEST_OP_DIR": str(folder),
            "TALLER_TEST_OP_URL": self.url,
            "PYTHONPATH": str(REPO),
        }

    def start(self) -> None:
        prepare = [sys.executable, "-m", "tests.accounts.oidc_op.prepare", PORTAL]
        subprocess.run(prepare, env=self.env, cwd=REPO, check=True, timeout=120)
        self.log = open(self.folder / "provider.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "django", "runserver", f"127.0.0.1:{self.port}", "--noreload"],
            env=self.env,
            cwd=REPO,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_for_http(f"{self.url}/openid/.well-known/openid-configuration", 60, self.process)
        self.discovery = requests.get(
            f"{self.url}/openid/.well-known/openid-configuration", timeout=10
        ).json()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()

    def run(self, code: str) -> None:
        """Change something at the provider, as its admin would."""
        command = [sys.executable, "-c", f"import django; django.setup()\n{code}"]
        subprocess.run(command, env=self.env, cwd=REPO, check=True, timeout=120)

    def set_clock(self, offset: int) -> None:
        (self.folder / "clock.json").write_text(json.dumps({"offset": offset}))


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    provider = Provider(tmp_path_factory.mktemp("openid-provider"))
    provider.start()
    yield provider
    provider.stop()


@pytest.fixture
def op(provider, settings):
    """The portal configured for the provider from its discovery document."""
    discovery = provider.discovery
    assert "RS256" in discovery["id_token_signing_alg_values_supported"]
    settings.OIDC_ENABLED = True
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = "s3cret"
    settings.OIDC_RP_SIGN_ALGO = "RS256"
    settings.OIDC_OP_ISSUER = discovery["issuer"]
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = discovery["authorization_endpoint"]
    settings.OIDC_OP_TOKEN_ENDPOINT = discovery["token_endpoint"]
    settings.OIDC_OP_USER_ENDPOINT = discovery["userinfo_endpoint"]
    settings.OIDC_OP_JWKS_ENDPOINT = discovery["jwks_uri"]
    settings.OIDC_OP_END_SESSION_ENDPOINT = discovery["end_session_endpoint"]
    settings.OIDC_PROVIDER_NAME = "University login"
    settings.AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "portal.accounts.oidc.UniversityOIDCBackend",
    ]
    provider.set_clock(0)
    yield provider
    provider.set_clock(0)


class Person:
    """One person: a browser at the provider (requests) and at the portal (the test client)."""

    def __init__(self, username: str | None = None) -> None:
        self.username = username
        self.at_provider = requests.Session()
        self.portal = Client()
        self.password_asked = False

    def click_sign_in(self):
        """Start at the portal, pass the provider (logging in when it asks), come back to the portal."""
        start = self.portal.get(reverse("oidc_authentication_init"))
        assert start.status_code == 302
        back = self.through_provider(start["Location"])
        return self.portal.get(back.path, parse_qs(back.query))

    def through_provider(self, url: str):
        response = self.at_provider.get(url, allow_redirects=False, timeout=30)
        for _ in range(10):
            if response.is_redirect:
                location = urljoin(response.url, response.headers["Location"])
                if location.startswith(PORTAL):
                    return urlparse(location)
                response = self.at_provider.get(location, allow_redirects=False, timeout=30)
            elif 'name="password"' in response.text:
                self.password_asked = True
                csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.text).group(1)
                form = {
                    "username": self.username,
                    "password": "pw-" + self.username,
                    "csrfmiddlewaretoken": csrf,
                    "next": parse_qs(urlparse(response.url).query)["next"][0],
                }
                response = self.at_provider.post(response.url, data=form, allow_redirects=False, timeout=30)
            else:
                raise AssertionError(f"{response.status_code} at {response.url}: {response.text[:300]}")
        raise AssertionError("the provider kept redirecting")

    def user(self):
        page = self.portal.get(reverse("dashboard"))
        return page.context["user"] if page.status_code == 200 else None

    def assert_refused(self, response, reason: str) -> None:
        assert response.status_code == 302 and response["Location"] == reverse("accounts:login")
        assert REFUSED + reason in self.portal.get(response["Location"]).content.decode()
        assert self.user() is None


def test_sign_in_binds_the_user_to_the_providers_subject(op):
    ines = Person("ines")
    response = ines.click_sign_in()
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    assert ines.password_asked
    user = ines.user()
    assert (user.username, user.email, user.first_name, user.last_name) == (
        "ines",
        "ines@uni.example",
        "Inés",
        "García",
    )
    identity = ExternalIdentity.objects.get(user=user)
    assert identity.issuer == op.discovery["issuer"] and identity.subject  # the provider's id for her

    # Her address changes at the provider: the next sign-in still finds her by subject.
    op.run(
        "from django.contrib.auth.models import User; User.objects.filter(username='ines')"
        ".update(email='ines.garcia@uni.example')"
    )
    try:
        again = Person("ines")
        again.click_sign_in()
        assert again.user() == user
    finally:
        op.run(
            "from django.contrib.auth.models import User; User.objects.filter(username='ines')"
            ".update(email='ines@uni.example')"
        )


def test_an_unverified_address_at_the_provider_does_not_take_over_the_site_admin(op, personas, settings):
    """The finding: mallory's provider account has the unverified address admin@uni.example."""
    settings.OIDC_LINK_BY_EMAIL = True
    root = personas.root
    root.email, root.first_name = "admin@uni.example", "Root"
    root.save()
    mallory = Person("mallory")
    mallory.click_sign_in()
    user = mallory.user()
    assert user is not None and user != root and not user.is_staff
    assert user.email == ""
    root.refresh_from_db()
    assert root.first_name == "Root"


def test_a_verified_address_links_an_existing_account_only_when_allowed(op, settings):
    existing = UserFactory(username="igarcia", email="ines@uni.example")
    settings.OIDC_LINK_BY_EMAIL = False
    first = Person("ines")
    first.assert_refused(first.click_sign_in(), "an account with this email address already exists")
    settings.OIDC_LINK_BY_EMAIL = True
    second = Person("ines")
    second.click_sign_in()
    assert second.user() == existing


def test_a_site_admin_account_is_never_linked_by_email(op, personas, settings):
    settings.OIDC_LINK_BY_EMAIL = True
    personas.root.email = "ines@uni.example"
    personas.root.save()
    ines = Person("ines")
    ines.assert_refused(ines.click_sign_in(), "an account with this email address already exists")


def test_logout_ends_the_session_at_the_provider(op):
    ines = Person("ines")
    ines.click_sign_in()
    assert ines.user() is not None
    response = ines.portal.post(reverse("accounts:logout"))
    assert response["Location"].startswith(op.discovery["end_session_endpoint"])
    assert ines.user() is None
    back = ines.through_provider(response["Location"])  # the provider logs her out and sends her back
    assert back.path == reverse("accounts:login")

    ines.password_asked = False
    ines.click_sign_in()
    assert ines.password_asked  # not signed straight back in
    assert ines.user().username == "ines"


def test_a_token_from_another_issuer_is_refused(op, settings):
    settings.OIDC_OP_ISSUER = "https://login.other-university.example/openid"
    ines = Person("ines")
    ines.assert_refused(ines.click_sign_in(), "the provider&#x27;s answer could not be verified.")


def test_a_rotated_client_secret_is_a_refused_sign_in(op, settings):
    settings.OIDC_RP_CLIENT_SECRET = "the-old-secret"
    ines = Person("ines")
    ines.assert_refused(ines.click_sign_in(), "the provider refused the portal&#x27;s request.")


def test_the_providers_clock(op):
    """A few seconds ahead is tolerated; an ID token already expired or from well ahead is not."""
    op.set_clock(5)
    ahead = Person("ines")
    ahead.click_sign_in()
    assert ahead.user().username == "ines"

    for offset in (-3600, 600):
        op.set_clock(offset)
        person = Person("ines")
        person.assert_refused(person.click_sign_in(), "the provider&#x27;s answer could not be verified.")


def test_an_authorization_code_is_used_once(op):
    ines = Person("ines")
    start = ines.portal.get(reverse("oidc_authentication_init"))
    back = ines.through_provider(start["Location"])
    query = parse_qs(back.query)
    ines.portal.get(back.path, query)
    assert ines.user() is not None
    ines.portal.post(reverse("accounts:logout"))
    ines.assert_refused(
        ines.portal.get(back.path, query), "the sign-in took too long or was already used. Try again."
    )


def test_a_provider_that_went_away_is_a_refused_sign_in(op, settings):
    """Down between the person's login there and the portal's token request."""
    ines = Person("ines")
    start = ines.portal.get(reverse("oidc_authentication_init"))
    back = ines.through_provider(start["Location"])
    settings.OIDC_OP_TOKEN_ENDPOINT = f"http://127.0.0.1:{free_port()}/openid/token"
    ines.assert_refused(
        ines.portal.get(back.path, parse_qs(back.query)),
        "the provider could not be reached. Try again later.",
    )
