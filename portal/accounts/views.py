from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from .actions import create_token, personal_tokens, revoke_token
from .forms import TimeZoneForm, TokenForm
from .models import scopable_projects
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


# The session key under which a new token's key waits for the one page that shows it.
NEW_KEY = "accounts.new_token_key"


def snippets(request: HttpRequest, key: str) -> dict[str, str]:
    """Ready-to-paste setup for a new token: the taller command line and an MLflow client."""
    site = request.build_absolute_uri("/").rstrip("/")
    return {
        "cli": f"taller login --url {site} --token {key}",
        "mlflow": f"export MLFLOW_TRACKING_URI={site}/mlflow\nexport MLFLOW_TRACKING_TOKEN={key}",
    }


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    """The account page: the person's API tokens. Creating one redirects (a reload creates no
    second token); its key is shown once, on the page the redirect leads to."""
    projects = scopable_projects(request.user)
    form = TokenForm(request.POST or None, projects=projects)
    if request.method == "POST" and form.is_valid():
        _token, key = create_token(request.user, **form.token_kwargs())
        request.session[NEW_KEY] = key
        return redirect(reverse("accounts:profile") + "#new-token")
    new_key = request.session.pop(NEW_KEY, None)
    tokens = personal_tokens(request.user).select_related("project")
    return render(
        request,
        "accounts/profile.html",
        {
            "form": form,
            "tokens": tokens,
            "new_key": new_key,
            "snippets": snippets(request, new_key) if new_key else None,
            "now": timezone.now(),
            "zone_form": TimeZoneForm(initial={"time_zone": request.user.time_zone}),
        },
    )


@login_required
@require_POST
def time_zone(request: HttpRequest) -> HttpResponse:
    """The time zone the pages show times in, for this person."""
    form = TimeZoneForm(request.POST)
    if form.is_valid():
        request.user.time_zone = form.cleaned_data["time_zone"]
        request.user.save(update_fields=["time_zone"])
        messages.success(
            request,
            _("Times are now shown in %(zone)s.") % {"zone": request.user.time_zone or settings.TIME_ZONE},
        )
    else:
        messages.error(request, " ".join(form.errors["time_zone"]))
    return redirect(reverse("accounts:profile") + "#time-zone")


@login_required
@require_POST
def revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(personal_tokens(request.user), pk=pk)
    revoke_token(token)
    messages.success(request, _("Token “%(name)s” revoked.") % {"name": token.name})
    return redirect("accounts:profile")
