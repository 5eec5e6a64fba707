"""University single sign-on (OpenID Connect): users are matched by email and created on first login.

The views answer 404 unless OIDC is configured, so an unconfigured portal never fails on them.
"""

import logging
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from mozilla_django_oidc import views as oidc_views
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

logger = logging.getLogger(__name__)


class UniversityOIDCBackend(OIDCAuthenticationBackend):
    def authenticate(self, request, **kwargs):
        """A token that fails verification is a failed sign-in (back to the login page), not a 400."""
        try:
            return super().authenticate(request, **kwargs)
        except SuspiciousOperation as error:
            logger.warning("single sign-on refused: %s", error)
            return None

    def create_user(self, claims):
        user = super().create_user(claims)
        return self._update_names(user, claims)

    def update_user(self, user, claims):
        return self._update_names(user, claims)

    def get_username(self, claims) -> str:
        """The IdP's preferred username, unless a local account already has it (then a hash of the email)."""
        preferred = (claims.get("preferred_username") or claims.get("email", "").split("@")[0])[:150]
        if preferred and not get_user_model().objects.filter(username__iexact=preferred).exists():
            return preferred
        return super().get_username(claims)

    @staticmethod
    def _update_names(user, claims):
        user.first_name = (claims.get("given_name") or user.first_name)[:150]
        user.last_name = (claims.get("family_name") or user.last_name)[:150]
        user.save(update_fields=["first_name", "last_name"])
        return user


def _only_when_enabled(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not settings.OIDC_ENABLED:
            raise Http404(_("Single sign-on is not configured."))
        return view(request, *args, **kwargs)

    return wrapped


authenticate = _only_when_enabled(oidc_views.OIDCAuthenticationRequestView.as_view())
callback = _only_when_enabled(oidc_views.OIDCAuthenticationCallbackView.as_view())
