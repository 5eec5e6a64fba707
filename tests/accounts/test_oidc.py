"""University single sign-on, end to end against a test identity provider on 127.0.0.1.

The provider serves the token, userinfo and JWKS endpoints; its id_token is signed RS256 with a key
made for the test, and the portal checks the signature against the JWKS.
"""

import json
import time
from urllib.parse import parse_qs, urlparse

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from werkzeug import Response

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CLIENT_ID = "taller-portal"


def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def idp_key():
    return rsa_key()


@pytest.fixture
def idp(httpserver, idp_key, settings):
    """Configure the portal for the provider; return a function that sets what the provider answers."""
    settings.OIDC_ENABLED = True
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = "s3cret"
    settings.OIDC_RP_SIGN_ALGO = "RS256"
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = httpserver.url_for("/authorize")
    settings.OIDC_OP_TOKEN_ENDPOINT = httpserver.url_for("/token")
    settings.OIDC_OP_USER_ENDPOINT = httpserver.url_for("/userinfo")
    settings.OIDC_OP_JWKS_ENDPOINT = httpserver.url_for("/jwks")
    settings.OIDC_PROVIDER_NAME = "Uni SSO"
    settings.AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "portal.accounts.oidc.UniversityOIDCBackend",
    ]
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(idp_key.public_key()))
    httpserver.expect_request("/jwks").respond_with_json({"keys": [{**public, "kid": "k1", "alg": "RS256"}]})

    def answer(claims: dict, *, signing_key=idp_key) -> dict:
        state = {}

        def token(request):
            form = parse_qs(request.get_data(as_text=True))
            assert form["grant_type"] == ["authorization_code"] and form["code"] == ["the-code"]
            assert form["client_id"] == [CLIENT_ID]
            now = int(time.time())
            id_token = jwt.encode(
                {
                    "iss": httpserver.url_for("/"),
                    "aud": CLIENT_ID,
                    "sub": claims["sub"],
                    "iat": now,
                    "exp": now + 300,
                    "nonce": state["nonce"],
                },
                signing_key,
                algorithm="RS256",
                headers={"kid": "k1"},
            )
            body = {"id_token": id_token, "access_token": "at-1", "token_type": "Bearer"}
            return Response(json.dumps(body), content_type="application/json")

        def userinfo(request):
            assert request.headers["Authorization"] == "Bearer at-1"
            return Response(json.dumps(claims), content_type="application/json")

        httpserver.expect_request("/token", method="POST").respond_with_handler(token)
        httpserver.expect_request("/userinfo").respond_with_handler(userinfo)
        return state

    return answer


def sign_in(client: Client, state: dict):
    response = client.get(reverse("oidc_authentication_init"))
    assert response.status_code == 302
    location = urlparse(response["Location"])
    params = parse_qs(location.query)
    assert location.path == "/authorize"
    assert params["client_id"] == [CLIENT_ID]
    assert params["redirect_uri"][0].endswith(reverse("oidc_authentication_callback"))
    state["nonce"] = params["nonce"][0]
    return client.get(
        reverse("oidc_authentication_callback"), {"code": "the-code", "state": params["state"][0]}
    )


CLAIMS = {
    "sub": "u-42",
    "email": "ines@uni.example",
    "preferred_username": "ines",
    "given_name": "Inés",
    "family_name": "García",
}


def test_first_sign_in_creates_the_user(idp, client):
    response = sign_in(client, idp(CLAIMS))
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    user = get_user_model().objects.get(email="ines@uni.example")
    assert (user.username, user.first_name, user.last_name) == ("ines", "Inés", "García")
    page = client.get(reverse("dashboard"))
    assert page.status_code == 200 and page.context["user"] == user


def test_an_existing_account_is_matched_by_email(idp, client):
    existing = UserFactory(username="igarcia", email="ines@uni.example")
    sign_in(client, idp(CLAIMS))
    assert get_user_model().objects.filter(email="ines@uni.example").count() == 1
    assert client.get(reverse("dashboard")).context["user"] == existing


def test_a_taken_username_does_not_break_sign_in(idp, client):
    UserFactory(username="ines", email="someone.else@uni.example")
    assert sign_in(client, idp(CLAIMS))["Location"] == reverse("dashboard")
    created = get_user_model().objects.get(email="ines@uni.example")
    assert created.username != "ines"


def test_a_token_signed_by_another_key_is_refused(idp, client):
    response = sign_in(client, idp(CLAIMS, signing_key=rsa_key()))
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert not get_user_model().objects.filter(email="ines@uni.example").exists()
    assert client.get(reverse("dashboard")).status_code == 302


def test_login_page_offers_sso_only_when_configured(idp, client, settings):
    body = client.get(reverse("accounts:login")).content.decode()
    assert "Sign in with Uni SSO" in body and reverse("oidc_authentication_init") in body
    settings.OIDC_ENABLED = False
    assert "Sign in with" not in client.get(reverse("accounts:login")).content.decode()
    assert client.get(reverse("oidc_authentication_init")).status_code == 404
    assert client.get(reverse("oidc_authentication_callback")).status_code == 404
