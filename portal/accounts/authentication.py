"""DRF authentication by portal API token: ``Authorization: Token <key>`` or ``Bearer <key>``.

``Bearer`` is what a stock MLflow client sends with ``MLFLOW_TRACKING_TOKEN``. A job's token
(see ``ApiToken``) is refused here: the tracking proxy is the only door it opens. A person's
token scoped to a project narrows the request's user to that project (``SCOPE_ATTRIBUTE``).
"""

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from .actions import authenticate_token
from .models import SCOPE_ATTRIBUTE


def key_from_header(header: str) -> str | None:
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() not in {"token", "bearer"}:
        return None
    return parts[1]


class TokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        key = key_from_header(header)
        if key is None:
            raise exceptions.AuthenticationFailed(_("Malformed Authorization header: use 'Token <key>'."))
        token = authenticate_token(key)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked token."))
        if token.is_workload_token():
            raise exceptions.PermissionDenied(
                _("A job's token reaches only its project's MLflow tracking under /mlflow/, not this API.")
            )
        # A person's token scoped to a project: portal/projects/access.py narrows to it.
        setattr(token.user, SCOPE_ATTRIBUTE, token.project_id)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return "Token"
