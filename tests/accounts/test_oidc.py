"""University single sign-on against a provider of the suite's own on 127.0.0.1.

This provider answers whatever a test tells it to, so it plays the misbehaving or hostile provider
that a compliant one never is: tokens for another audience or issuer, expired or from the future,
``alg=none``, userinfo about another person, a slow or unreachable server. Its id_token is signed
RS256 with a key made for the test and checked by the portal against the JWKS. The sign-in against
a complete OpenID provider is in test_oidc_provider.py.
"""

import json
import os
import subprocess
import sys
import time
from urllib.parse import parse_qs, urlparse

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from werkzeug import Response

from portal.accounts.models import ExternalIdentity
from tests.conftest import free_port
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CLIENT_ID = "taller-portal"
REFUSED = "Sign-in with Uni SSO was refused: "


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
    settings.OIDC_OP_ISSUER = httpserver.url_for("/")
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
    key_set = {"keys": [{**public, "kid": "k1", "alg": "RS256"}]}
    httpserver.expect_request("/jwks").respond_with_json(key_set)

    def answer(
        claims: dict,
        *,
        signing_key=idp_key,
        algorithm="RS256",
        id_token: dict | None = None,
        userinfo: dict | None = None,
        jwks: dict = key_set,
        headers: dict | None = None,
    ) -> dict:
        """Answer the token endpoint with an id_token about claims["sub"] (``id_token`` overrides
        its claims, a value None drops one) and the userinfo endpoint with ``userinfo`` or claims."""
        state = {}
        httpserver.clear_all_handlers()
        httpserver.expect_request("/jwks").respond_with_json(jwks)

        def token(request):
            form = parse_qs(request.get_data(as_text=True))
            assert form["grant_type"] == ["authorization_code"] and form["code"] == ["the-code"]
            assert form["client_id"] == [CLIENT_ID]
            now = int(time.time())
            payload = {
                "iss": httpserver.url_for("/"),
                "aud": CLIENT_ID,
                "sub": claims["sub"],
                "iat": now,
                "exp": now + 300,
                "nonce": state["nonce"],
                **(id_token or {}),
            }
            payload = {name: value for name, value in payload.items() if value is not None}
            key = None if algorithm == "none" else signing_key
            encoded = jwt.encode(
                payload, key, algorithm=algorithm, headers={"kid": "k1"} if headers is None else headers
            )
            body = {"id_token": encoded, "access_token": "at-1", "token_type": "Bearer"}
            return Response(json.dumps(body), content_type="application/json")

        def userinfo_endpoint(request):
            assert request.headers["Authorization"] == "Bearer at-1"
            return Response(json.dumps(userinfo or claims), content_type="application/json")

        httpserver.expect_request("/token", method="POST").respond_with_handler(token)
        httpserver.expect_request("/userinfo").respond_with_handler(userinfo_endpoint)
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
    state["state"] = params["state"][0]
    return client.get(
        reverse("oidc_authentication_callback"), {"code": "the-code", "state": params["state"][0]}
    )


def assert_refused(client: Client, response, reason: str) -> None:
    """Back on the login page, told why, and not signed in."""
    assert response.status_code == 302 and response["Location"] == reverse("accounts:login")
    page = client.get(response["Location"])
    assert REFUSED + reason in page.content.decode()
    assert client.get(reverse("dashboard")).status_code == 302


def signed_in_as(client: Client):
    page = client.get(reverse("dashboard"))
    assert page.status_code == 200
    return page.context["user"]


CLAIMS = {
    "sub": "u-42",
    "email": "ines@uni.example",
    "email_verified": True,
    "preferred_username": "ines",
    "given_name": "Inés",
    "family_name": "García",
}
UNVERIFIABLE = "the provider&#x27;s answer could not be verified."


def test_first_sign_in_creates_the_user_bound_to_the_subject(idp, client, settings):
    response = sign_in(client, idp(CLAIMS))
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    user = get_user_model().objects.get(email="ines@uni.example")
    assert (user.username, user.first_name, user.last_name) == ("ines", "Inés", "García")
    assert signed_in_as(client) == user
    identity = ExternalIdentity.objects.get(user=user)
    assert (identity.issuer, identity.subject) == (settings.OIDC_OP_ISSUER, "u-42")


def test_the_next_sign_in_finds_the_user_by_subject_not_email(idp, client):
    sign_in(client, idp(CLAIMS))
    user = get_user_model().objects.get(username="ines")
    other = Client()
    sign_in(other, idp({**CLAIMS, "email": "ines.garcia@other.example", "given_name": "Ines"}))
    assert signed_in_as(other) == user
    user.refresh_from_db()
    assert user.first_name == "Ines"


def test_an_unverified_email_never_signs_in_as_its_owner(idp, client, personas):
    """The finding: an IdP account with an unverified admin@ address became the local superuser."""
    root = personas.root
    root.email, root.first_name = "admin@uni.example", "Root"
    root.save()
    mallory = {
        "sub": "m-1",
        "email": "admin@uni.example",
        "email_verified": False,
        "preferred_username": "mallory",
        "given_name": "Mallory",
    }
    sign_in(client, idp(mallory))
    user = signed_in_as(client)
    assert user != root and not user.is_staff and not user.is_superuser
    assert user.email == ""  # an address the provider does not vouch for is not kept
    root.refresh_from_db()
    assert root.first_name == "Root"


def test_an_unverified_email_does_not_link_even_when_linking_is_allowed(idp, client, settings):
    settings.OIDC_LINK_BY_EMAIL = True
    existing = UserFactory(username="igarcia", email="ines@uni.example")
    sign_in(client, idp({**CLAIMS, "email_verified": False}))
    assert signed_in_as(client) != existing


def test_a_verified_email_links_an_existing_account_when_the_site_allows(idp, client, settings):
    settings.OIDC_LINK_BY_EMAIL = True
    existing = UserFactory(username="igarcia", email="ines@uni.example")
    sign_in(client, idp(CLAIMS))
    assert signed_in_as(client) == existing
    assert ExternalIdentity.objects.get(subject="u-42").user == existing
    assert get_user_model().objects.filter(email__iexact="ines@uni.example").count() == 1


def test_a_verified_email_does_not_link_unless_the_site_allows(idp, client, settings):
    settings.OIDC_LINK_BY_EMAIL = False
    UserFactory(username="igarcia", email="ines@uni.example")
    response = sign_in(client, idp(CLAIMS))
    assert_refused(client, response, "an account with this email address already exists")
    assert not ExternalIdentity.objects.exists()


@pytest.mark.parametrize("role", [{"is_staff": True}, {"is_superuser": True}])
def test_a_staff_account_is_never_linked_by_email(idp, client, settings, role):
    settings.OIDC_LINK_BY_EMAIL = True
    admin = UserFactory(username="admin", email="ines@uni.example", first_name="Admin", **role)
    response = sign_in(client, idp(CLAIMS))
    assert_refused(client, response, "an account with this email address already exists")
    admin.refresh_from_db()
    assert admin.first_name == "Admin"
    assert not ExternalIdentity.objects.exists()


def test_an_account_bound_to_one_subject_is_not_linked_to_another(idp, client, settings):
    settings.OIDC_LINK_BY_EMAIL = True
    sign_in(client, idp(CLAIMS))
    response = sign_in(other := Client(), idp({**CLAIMS, "sub": "u-99"}))
    assert_refused(other, response, "an account with this email address already exists")


def test_a_staff_account_signs_in_once_an_admin_bound_it(idp, client, personas, settings):
    ExternalIdentity.objects.create(user=personas.root, issuer=settings.OIDC_OP_ISSUER, subject="u-42")
    sign_in(client, idp(CLAIMS))
    assert signed_in_as(client) == personas.root


def test_a_taken_username_does_not_break_sign_in(idp, client):
    UserFactory(username="ines", email="someone.else@uni.example")
    assert sign_in(client, idp(CLAIMS))["Location"] == reverse("dashboard")
    created = get_user_model().objects.get(email="ines@uni.example")
    assert created.username != "ines"


def test_no_new_accounts_when_the_site_says_so(idp, client, settings):
    settings.OIDC_CREATE_USER = False
    assert_refused(client, sign_in(client, idp(CLAIMS)), "you have no account on this portal.")
    assert not get_user_model().objects.exists()


def test_a_disabled_account_is_refused(idp, client, settings):
    sign_in(Client(), idp(CLAIMS))
    get_user_model().objects.filter(username="ines").update(is_active=False)
    assert_refused(client, sign_in(client, idp(CLAIMS)), "your account is disabled.")


@pytest.mark.parametrize(
    "id_token",
    [
        {"aud": "another-client"},
        {"aud": [CLIENT_ID, "another-client"]},  # several audiences and no azp naming us
        {"iss": "https://idp.elsewhere.example/"},
        {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200},
        {"iat": int(time.time()) + 600},
        {"nonce": "not-this-sign-in"},
        {"iss": None},
        {"aud": None},
        {"exp": None},
        {"iat": None},
    ],
    ids=[
        "aud",
        "aud-list-no-azp",
        "iss",
        "expired",
        "iat-in-the-future",
        "nonce",
        "no-iss",
        "no-aud",
        "no-exp",
        "no-iat",
    ],
)
def test_an_id_token_that_does_not_check_out_is_refused(idp, client, id_token):
    response = sign_in(client, idp(CLAIMS, id_token=id_token))
    assert_refused(client, response, UNVERIFIABLE)
    assert not get_user_model().objects.exists()


def test_a_small_clock_difference_is_allowed(idp, client):
    now = int(time.time())
    sign_in(client, idp(CLAIMS, id_token={"iat": now + 5}))
    assert signed_in_as(client).username == "ines"
    other = Client()
    sign_in(other, idp(CLAIMS, id_token={"iat": now - 400, "exp": now - 5}))
    assert signed_in_as(other).username == "ines"


def test_several_audiences_with_azp_naming_us_is_accepted(idp, client):
    sign_in(client, idp(CLAIMS, id_token={"aud": [CLIENT_ID, "api"], "azp": CLIENT_ID}))
    assert signed_in_as(client).username == "ines"


def test_a_token_signed_by_another_key_is_refused(idp, client):
    response = sign_in(client, idp(CLAIMS, signing_key=rsa_key()))
    assert_refused(client, response, UNVERIFIABLE)
    assert not get_user_model().objects.filter(email="ines@uni.example").exists()


@pytest.mark.parametrize("headers", [None, {}], ids=["with-kid", "without-kid"])
def test_an_unsigned_token_is_refused(idp, client, headers):
    assert_refused(client, sign_in(client, idp(CLAIMS, algorithm="none", headers=headers)), UNVERIFIABLE)


def test_a_token_without_kid_is_checked_with_the_providers_only_key(idp, client):
    sign_in(client, idp(CLAIMS, headers={}))
    assert signed_in_as(client).username == "ines"
    other = Client()
    assert_refused(other, sign_in(other, idp(CLAIMS, headers={}, signing_key=rsa_key())), UNVERIFIABLE)


def test_a_token_signed_with_the_public_key_as_a_shared_secret_is_refused(idp, client, idp_key):
    """HS256 keyed with the provider's public key: the algorithm is the portal's to choose."""
    response = sign_in(client, idp(CLAIMS, signing_key="a" * 32, algorithm="HS256"))
    assert_refused(client, response, UNVERIFIABLE)


def test_userinfo_about_another_person_is_refused(idp, client):
    """Signed in at the provider as one person, the userinfo answer names another."""
    victim = UserFactory(username="victim", email="victim@uni.example")
    ExternalIdentity.objects.create(user=victim, issuer="whatever", subject="v-1")
    response = sign_in(client, idp(CLAIMS, userinfo={**CLAIMS, "sub": "v-1"}))
    assert_refused(client, response, "the provider&#x27;s answer was about another person.")
    missing = sign_in(other := Client(), idp(CLAIMS, userinfo={"email": "ines@uni.example"}))
    assert_refused(other, missing, "the provider&#x27;s answer was about another person.")


def test_a_refused_client_secret_is_a_refused_sign_in(idp, client, httpserver):
    """A rotated secret: the provider answers the token request with 401."""
    httpserver.expect_request("/token", method="POST").respond_with_json(
        {"error": "invalid_client"}, status=401
    )
    response = sign_in(client, {})
    assert_refused(client, response, "the provider refused the portal&#x27;s request.")


def test_an_answer_that_is_not_json_is_a_refused_sign_in(idp, client, httpserver):
    httpserver.expect_request("/token", method="POST").respond_with_data("<html>maintenance</html>")
    response = sign_in(client, {})
    assert_refused(client, response, "the provider refused the portal&#x27;s request.")


def test_an_unreachable_provider_is_a_refused_sign_in(idp, client, settings):
    settings.OIDC_OP_TOKEN_ENDPOINT = f"http://127.0.0.1:{free_port()}/token"
    response = sign_in(client, {})
    assert_refused(client, response, "the provider could not be reached. Try again later.")


def test_a_slow_provider_is_a_refused_sign_in(idp, client, settings, httpserver):
    settings.OIDC_TIMEOUT = 0.2

    def slow(request):
        time.sleep(1)
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/token", method="POST").respond_with_handler(slow)
    response = sign_in(client, {})
    assert_refused(client, response, "the provider could not be reached. Try again later.")


@pytest.mark.parametrize("jwks", [{"no": "keys"}, {"keys": []}, ["not", "an", "object"]])
def test_a_broken_key_set_is_a_refused_sign_in(idp, client, jwks):
    assert_refused(client, sign_in(client, idp(CLAIMS, jwks=jwks)), UNVERIFIABLE)


def test_a_sign_in_cancelled_at_the_provider_says_so(idp, client):
    client.get(reverse("oidc_authentication_init"))
    response = client.get(reverse("oidc_authentication_callback"), {"error": "access_denied"})
    assert_refused(client, response, "the sign-in was cancelled or refused at the provider.")


def test_a_replayed_callback_is_a_refused_sign_in(idp, client):
    state = idp(CLAIMS)
    sign_in(client, state)
    client.post(reverse("accounts:logout"))
    again = client.get(reverse("oidc_authentication_callback"), {"code": "the-code", "state": state["state"]})
    assert_refused(client, again, "the sign-in took too long or was already used. Try again.")


def test_logout_ends_the_provider_session(idp, client, settings):
    settings.OIDC_OP_END_SESSION_ENDPOINT = "http://127.0.0.1:1/logout?ui=short"
    sign_in(client, idp(CLAIMS))
    id_token = client.session["oidc_id_token"]
    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    location = urlparse(response["Location"])
    assert (location.netloc, location.path) == ("127.0.0.1:1", "/logout")
    assert parse_qs(location.query) == {
        "ui": ["short"],
        "id_token_hint": [id_token],
        "post_logout_redirect_uri": ["http://testserver" + reverse("accounts:login")],
        "client_id": [CLIENT_ID],
    }
    assert client.get(reverse("dashboard")).status_code == 302  # signed out of the portal too


def test_logout_without_an_end_session_endpoint_or_after_a_password_sign_in(idp, client, personas, settings):
    sign_in(client, idp(CLAIMS))
    response = client.post(reverse("accounts:logout"))
    assert response["Location"] == reverse("accounts:login")
    settings.OIDC_OP_END_SESSION_ENDPOINT = "http://127.0.0.1:1/logout"
    client.force_login(personas.alice)
    assert client.post(reverse("accounts:logout"))["Location"] == reverse("accounts:login")
    assert client.get(reverse("accounts:logout")).status_code == 405  # a link cannot sign anyone out


def test_login_page_offers_sso_only_when_configured(idp, client, settings):
    body = client.get(reverse("accounts:login")).content.decode()
    assert "Sign in with Uni SSO" in body and reverse("oidc_authentication_init") in body
    settings.OIDC_ENABLED = False
    assert "Sign in with" not in client.get(reverse("accounts:login")).content.decode()
    assert client.get(reverse("oidc_authentication_init")).status_code == 404
    assert client.get(reverse("oidc_authentication_callback")).status_code == 404


def test_single_sign_on_needs_an_issuer():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings", "OIDC_RP_CLIENT_ID": "taller"}
    env.pop("OIDC_OP_ISSUER", None)
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "OIDC_OP_ISSUER must be set when OIDC_RP_CLIENT_ID is" in result.stderr


def test_the_refusal_is_told_in_spanish(idp, settings):
    client = Client(HTTP_ACCEPT_LANGUAGE="es")
    response = sign_in(client, idp(CLAIMS, id_token={"aud": "another-client"}))
    page = client.get(response["Location"]).content.decode()
    assert (
        "Se rechazó el inicio de sesión con Uni SSO: no se pudo verificar la respuesta del proveedor." in page
    )


def test_a_site_admin_sees_and_binds_identities_in_the_admin(personas, settings):
    identity = ExternalIdentity.objects.create(user=personas.bob, issuer="https://idp.example", subject="b-7")
    admin = personas.client("root")
    page = admin.get(reverse("admin:accounts_user_change", args=[personas.bob.pk]))
    assert page.status_code == 200
    assert "b-7" in page.content.decode() and "https://idp.example" in page.content.decode()
    assert (
        personas.client("alice")
        .get(reverse("admin:accounts_user_change", args=[personas.bob.pk]))
        .status_code
        == 302
    )
    assert str(identity) == "b-7 @ https://idp.example"


def test_odd_claim_types_do_not_break_sign_in(idp, client):
    odd = {"sub": "u-5", "preferred_username": 12345, "email": 7, "email_verified": "yes", "family_name": 3}
    sign_in(client, idp(odd))
    user = signed_in_as(client)
    assert (user.username, user.email, user.last_name) == ("12345", "", "3")
