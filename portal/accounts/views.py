from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_ratelimit.core import is_ratelimited

from .actions import create_token, revoke_token
from .forms import TokenForm
from .models import ApiToken


def _login_rate(group: str, request: HttpRequest) -> str:
    return settings.LOGIN_RATE


def _sso_context() -> dict:
    return {"oidc_enabled": settings.OIDC_ENABLED, "oidc_name": settings.OIDC_PROVIDER_NAME}


def login(request: HttpRequest) -> HttpResponse:
    """Django's login view, refusing POSTs past the rate per client address and per username."""
    if request.method == "POST":
        limited = is_ratelimited(
            request, group="login-ip", key="ip", rate=_login_rate, method="POST", increment=True
        )
        limited |= is_ratelimited(
            request, group="login-user", key="post:username", rate=_login_rate, method="POST", increment=True
        )
        if limited:
            return render(
                request, "registration/login.html", {"rate_limited": True, **_sso_context()}, status=429
            )
    return auth_views.LoginView.as_view(redirect_authenticated_user=True, extra_context=_sso_context())(
        request
    )


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    new_key = None
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        _token, new_key = create_token(request.user, form.cleaned_data["name"])
        form = TokenForm()
    tokens = ApiToken.objects.filter(user=request.user, project__isnull=True, revoked_at__isnull=True)
    return render(request, "accounts/profile.html", {"form": form, "tokens": tokens, "new_key": new_key})


@login_required
@require_POST
def revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    revoke_token(token)
    messages.success(request, _("Token “%(name)s” revoked.") % {"name": token.name})
    return redirect("accounts:profile")
