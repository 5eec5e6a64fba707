from django.http import HttpRequest, HttpResponseForbidden, JsonResponse
from django.template import loader
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import requires_csrf_token

from portal.projects.access import SiteAdminOnly

from . import health


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    healthy, states = health.report()
    return JsonResponse({"status": "ok" if healthy else "degraded", **states}, status=200 if healthy else 503)


@requires_csrf_token
def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponseForbidden:
    """The 403 page, told why: a page for site admins only (asking a project owner would not
    help), or a role in the project too low for this (an owner can change it)."""
    reason = "site_admin" if isinstance(exception, SiteAdminOnly) else "role"
    message = exception.args[0] if exception.args and isinstance(exception.args[0], str) else ""
    template = loader.get_template("403.html")
    return HttpResponseForbidden(template.render({"reason": reason, "message": message}, request))
