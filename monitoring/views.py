from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from . import access
from .collectors import COLLECTORS


def registry() -> CollectorRegistry:
    """A registry of the portal's collectors only (not this process' own Python figures, which
    would differ from one web worker to the next)."""
    registry = CollectorRegistry(auto_describe=False)
    for collector in COLLECTORS:
        registry.register(collector())
    return registry


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """The portal's metrics in the text format 0.0.4 (what ``generate_latest`` writes, and what
    every Prometheus reads), for the configured scrapers only."""
    try:
        access.check(request)
    except access.Refused as refused:
        response = HttpResponse(refused.message + "\n", status=refused.status, content_type="text/plain")
        if refused.status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_PLAIN_0_0_4)
