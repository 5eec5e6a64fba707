from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from . import health


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    healthy, states = health.report()
    return JsonResponse({"status": "ok" if healthy else "degraded", **states}, status=200 if healthy else 503)
