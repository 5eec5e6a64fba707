"""University single sign-on (OpenID Connect), on mozilla-django-oidc's authorization code flow.

What the portal checks on top of the library, and why:

- The ID token: signed with the configured algorithm (never ``none``) by a key of the provider,
  issued by ``OIDC_OP_ISSUER`` for our client id (``aud``, and ``azp`` when there are several
  audiences), not expired and not issued in the future, each within ``OIDC_ALLOWED_CLOCK_SKEW``,
  with the nonce of this sign-in.
- The userinfo answer is about the same person: its ``sub`` is the ID token's.
- Users are bound to the provider's (issuer, sub), stored on the first sign-in. An email links an
  existing account only when the provider says it is verified, the site allows linking
  (``OIDC_LINK_BY_EMAIL``), and the account is not a staff or site-admin one.
- Every failure at the provider (unreachable, slow, a refused client secret, a bad token) is a
  refused sign-in: back to the login page with a message, the details in the log, never a 500.
- Logging out also ends the provider's session where it has an end-session endpoint.

The views answer 404 unless OIDC is configured, so an unconfigured portal never fails on them.
"""

import logging
from collections.abc import Callable
from functools import wraps
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jwt
import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from mozilla_django_oidc import views as oidc_views
from mozilla_django_oidc.auth import OIDCAuthenticationBackend, default_username_algo

from .models import ExternalIdentity

logger = logging.getLogger(__name__)


class SignInRefused(Exception):
    """A sign-in the portal refuses; ``reason`` is English (gettext_noop), translated when shown."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason


# What the user is told, by the kind of failure; the log has the details.
UNREACHABLE = gettext_noop("the provider could not be reached. Try again later.")
PROVIDER_ERROR = gettext_noop("the provider refused the portal's request.")
BAD_TOKEN = gettext_noop("the provider's answer could not be verified.")
OTHER_PERSON = gettext_noop("the provider's answer was about another person.")
NOT_LINKED = gettext_noop(
    "an account with this email address already exists and is not linked to your sign-in. "
    "Sign in with your password, or ask a site admin to link it."
)
NO_ACCOUNT = gettext_noop("you have no account on this portal. Ask a site admin for one.")
INACTIVE = gettext_noop("your account is disabled.")
CANCELLED = gettext_noop("the sign-in was cancelled or refused at the provider.")
EXPIRED = gettext_noop("the sign-in took too long or was already used. Try again.")


class UniversityOIDCBackend(OIDCAuthenticationBackend):
    def authenticate(self, request, **kwargs):
        """A failure anywhere in the exchange with the provider is a refused sign-in, with a reason."""
        try:
            return super().authenticate(request, **kwargs)
        except SignInRefused as refusal:
            refuse(request, refusal)
        except (requests.Timeout, requests.ConnectionError) as error:
            refuse(request, SignInRefused(UNREACHABLE, repr(error)))
        except requests.RequestException as error:  # 4xx/5xx from the provider, a body that is not JSON
            refuse(request, SignInRefused(PROVIDER_ERROR, str(error)))
        except (jwt.PyJWTError, SuspiciousOperation) as error:
            refuse(request, SignInRefused(BAD_TOKEN, f"{type(error).__name__}: {error}"))
        return None

    # The ID token -------------------------------------------------------------------------------

    def verify_token(self, token, **kwargs):
        """Signature (by our algorithm only), issuer, audience, expiry, issue time and nonce."""
        if not isinstance(token, str) or not token:
            raise SignInRefused(BAD_TOKEN, "the token endpoint sent no id_token")
        payload = self._decode(token, required=["iss", "aud", "sub", "exp", "iat"])
        if self.get_settings("OIDC_USE_NONCE", True) and kwargs.get("nonce") != payload.get("nonce"):
            raise SignInRefused(BAD_TOKEN, "nonce mismatch")
        audiences = payload["aud"] if isinstance(payload["aud"], list) else [payload["aud"]]
        if len(audiences) > 1 and payload.get("azp") != self.OIDC_RP_CLIENT_ID:
            raise SignInRefused(BAD_TOKEN, f"several audiences {audiences} and azp {payload.get('azp')!r}")
        return payload

    def _decode(self, token: str, *, required: list[str]) -> dict:
        if not settings.OIDC_OP_ISSUER:  # PyJWT skips the issuer check when it is empty
            raise SignInRefused(BAD_TOKEN, "OIDC_OP_ISSUER is not set")
        header = jwt.get_unverified_header(token)
        algorithm = header.get("alg")
        if algorithm != self.OIDC_RP_SIGN_ALGO:  # `none` included: the algorithm is ours to choose
            raise SignInRefused(
                BAD_TOKEN, f"token signed with {algorithm!r}, expected {self.OIDC_RP_SIGN_ALGO}"
            )
        if algorithm.startswith("HS"):
            key = self.OIDC_RP_CLIENT_SECRET
        elif self.OIDC_RP_IDP_SIGN_KEY is not None:
            key = self.OIDC_RP_IDP_SIGN_KEY
        else:
            key = self._provider_key(header)
        return jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=self.OIDC_RP_CLIENT_ID,
            issuer=settings.OIDC_OP_ISSUER,
            leeway=settings.OIDC_ALLOWED_CLOCK_SKEW,
            options={"require": required},
        )

    def _provider_key(self, header: dict) -> jwt.PyJWK:
        """The provider's key for this token: by ``kid``, or its only key for the algorithm."""
        response = requests.get(
            self.OIDC_OP_JWKS_ENDPOINT,
            verify=self.get_settings("OIDC_VERIFY_SSL", True),
            timeout=self.get_settings("OIDC_TIMEOUT", None),
        )
        response.raise_for_status()
        jwks = response.json()
        keys = jwks.get("keys") if isinstance(jwks, dict) else None
        if not isinstance(keys, list):
            raise SignInRefused(BAD_TOKEN, "the JWKS endpoint sent no key list")
        candidates = [
            key
            for key in keys
            if isinstance(key, dict)
            and key.get("alg", header["alg"]) == header["alg"]
            and key.get("use", "sig") == "sig"
            and ("kid" not in header or key.get("kid") == header["kid"])
        ]
        if len(candidates) != 1:
            raise SignInRefused(BAD_TOKEN, f"{len(candidates)} provider keys match kid {header.get('kid')!r}")
        return jwt.PyJWK(candidates[0])

    def get_token(self, payload):
        answer = super().get_token(payload)
        if not isinstance(answer, dict):
            raise SignInRefused(PROVIDER_ERROR, f"the token endpoint answered {answer!r}")
        return answer

    # The user -----------------------------------------------------------------------------------

    def get_userinfo(self, access_token, id_token, payload):
        """The userinfo claims, which must be about the ID token's subject (OIDC Core 5.3.2)."""
        response = requests.get(
            self.OIDC_OP_USER_ENDPOINT,
            headers={"Authorization": f"Bearer {access_token}"},
            verify=self.get_settings("OIDC_VERIFY_SSL", True),
            timeout=self.get_settings("OIDC_TIMEOUT", None),
        )
        response.raise_for_status()
        if response.headers.get("content-type", "").lower().startswith("application/jwt"):
            claims = self._decode(response.text, required=["sub"])
        else:
            claims = response.json()
        if not isinstance(claims, dict) or claims.get("sub") != payload["sub"]:
            sub = claims.get("sub") if isinstance(claims, dict) else None
            raise SignInRefused(OTHER_PERSON, f"userinfo sub {sub!r} != id_token sub {payload['sub']!r}")
        return claims

    def verify_claims(self, claims) -> bool:
        return True  # the subject is what identifies a person; an email is optional

    @transaction.atomic
    def get_or_create_user(self, access_token, id_token, payload):
        claims = self.get_userinfo(access_token, id_token, payload)
        issuer, subject = payload["iss"], payload["sub"]
        identity = (
            ExternalIdentity.objects.select_for_update()
            .select_related("user")
            .filter(issuer=issuer, subject=subject)
            .first()
        )
        if identity is not None:
            user = self.update_user(identity.user, claims)
        else:
            user = self._linkable_user(claims, issuer)
            if user is None:
                if not settings.OIDC_CREATE_USER:
                    raise SignInRefused(NO_ACCOUNT, f"no account for {subject!r} and OIDC_CREATE_USER is off")
                user = self.create_user(claims)
            else:
                user = self.update_user(user, claims)
            identity = ExternalIdentity.objects.create(user=user, issuer=issuer, subject=subject)
            logger.info("single sign-on: %s bound to %s at %s", user.username, subject, issuer)
        if not user.is_active:
            raise SignInRefused(INACTIVE, f"{user.username} is inactive")
        ExternalIdentity.objects.filter(pk=identity.pk).update(last_login_at=timezone.now())
        return user

    def _linkable_user(self, claims: dict, issuer: str):
        """The existing account a first sign-in may take over by email, or None for a new account.

        Refuses the sign-in when an account has the email but may not be linked: creating a
        second account with the same address would hand its invitations to whoever signs in.
        """
        email = verified_email(claims)
        if not email:
            return None
        matches = list(get_user_model().objects.filter(email__iexact=email)[:2])
        if not matches:
            return None
        user = matches[0]
        linkable = (
            settings.OIDC_LINK_BY_EMAIL
            and len(matches) == 1
            and not (user.is_staff or user.is_superuser)
            and not user.external_identities.filter(issuer=issuer).exists()
        )
        if not linkable:
            raise SignInRefused(NOT_LINKED, f"{email} matches {user.username}, which may not be linked")
        return user

    def create_user(self, claims):
        """A new account; it keeps the email only when the provider has verified it."""
        user = get_user_model().objects.create_user(self.get_username(claims), email=verified_email(claims))
        return self._update_names(user, claims)

    def update_user(self, user, claims):
        return self._update_names(user, claims)

    def get_username(self, claims) -> str:
        """The IdP's preferred username, unless a local account already has it (then a hash of the sub)."""
        preferred = str(claims.get("preferred_username") or verified_email(claims).split("@")[0])[:150]
        taken = get_user_model().objects.filter(username__iexact=preferred).exists()
        if preferred and not taken:
            return preferred
        return default_username_algo(f"{settings.OIDC_OP_ISSUER} {claims['sub']}")

    @staticmethod
    def _update_names(user, claims):
        user.first_name = str(claims.get("given_name") or user.first_name)[:150]
        user.last_name = str(claims.get("family_name") or user.last_name)[:150]
        user.save(update_fields=["first_name", "last_name"])
        return user


def verified_email(claims: dict) -> str:
    """The email of the claims if the provider vouches for it (``email_verified`` true), else ''."""
    email = claims.get("email")
    if isinstance(email, str) and claims.get("email_verified") in (True, "true"):
        return email.strip()
    return ""


def refuse(request: HttpRequest, refusal: SignInRefused) -> None:
    logger.warning("single sign-on refused: %s (%s)", refusal.reason, refusal)
    request.oidc_refusal = refusal.reason


def provider_logout_url(request: HttpRequest) -> str:
    """Where logging out sends the browser: the provider's end-session endpoint after a single
    sign-on (so the next click does not sign straight back in), else the login page."""
    after = resolve_url(settings.LOGOUT_REDIRECT_URL)
    id_token = request.session.get("oidc_id_token")
    endpoint = settings.OIDC_OP_END_SESSION_ENDPOINT
    if not (settings.OIDC_ENABLED and endpoint and id_token):
        return after
    parts = urlsplit(endpoint)
    query = parse_qsl(parts.query) + [
        ("id_token_hint", id_token),
        ("post_logout_redirect_uri", request.build_absolute_uri(after)),
        ("client_id", settings.OIDC_RP_CLIENT_ID),
    ]
    return urlunsplit(parts._replace(query=urlencode(query)))


class _CallbackView(oidc_views.OIDCAuthenticationCallbackView):
    def get(self, request):
        try:
            return super().get(request)
        except SuspiciousOperation as error:  # a state not from this browser: replayed or stale
            refuse(request, SignInRefused(EXPIRED, str(error)))
            return self.login_failure()

    def login_failure(self):
        reason = getattr(self.request, "oidc_refusal", None)
        if reason is None:
            reason = CANCELLED if self.request.GET.get("error") else EXPIRED
            logger.warning("single sign-on refused: %s (%s)", reason, self.request.GET.get("error", ""))
        messages.error(
            self.request,
            _("Sign-in with %(provider)s was refused: %(reason)s")
            % {"provider": settings.OIDC_PROVIDER_NAME, "reason": _(reason)},
        )
        return super().login_failure()


def _only_when_enabled(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not settings.OIDC_ENABLED:
            raise Http404(_("Single sign-on is not configured."))
        return view(request, *args, **kwargs)

    return wrapped


authenticate = _only_when_enabled(oidc_views.OIDCAuthenticationRequestView.as_view())
callback = _only_when_enabled(_CallbackView.as_view())
logout = oidc_views.OIDCLogoutView.as_view()
