from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from .actions import create_token, revoke_token
from .forms import TokenForm
from .models import ApiToken
from .throttle import count_failed_login, login_locked


def _sso_context() -> dict:
    return {"oidc_enabled": settings.OIDC_ENABLED, "oidc_name": settings.OIDC_PROVIDER_NAME}


class _LoginView(auth_views.LoginView):
    redirect_authenticated_user = True

    def form_invalid(self, form):
        count_failed_login(self.request)
        return super().form_invalid(form)


def login(request: HttpRequest) -> HttpResponse:
    """Django's login view, refusing a username or a client address that failed too often."""
    if request.method == "POST" and login_locked(request):
        return render(
            request, "registration/login.html", {"rate_limited": True, **_sso_context()}, status=429
        )
    return _LoginView.as_view(extra_context=_sso_context())(request)


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
