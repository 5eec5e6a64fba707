"""Who may read ``/metrics``: the scrapers named by TALLER_METRICS_ALLOWED_ADDRESSES (addresses or
CIDR blocks, the client address read behind TALLER_TRUSTED_PROXIES as the sign-in limit reads it)
and/or holding TALLER_METRICS_TOKEN as a bearer token. Each one configured must be met."""

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext as _

from portal.accounts.throttle import client_ip


class Refused(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _allowed_address(request: HttpRequest, networks: list[str]) -> bool:
    try:
        address = ipaddress.ip_address(client_ip(request))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network, strict=False) for network in networks)


def _bearer(request: HttpRequest) -> str:
    scheme, _space, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def check(request: HttpRequest) -> None:
    """Raise Refused (403 for an address or a portal without scrapers, 401 for a token) unless
    the request comes from a configured scraper."""
    networks = settings.TALLER_METRICS_ALLOWED_ADDRESSES
    token = settings.TALLER_METRICS_TOKEN
    if not networks and not token:
        raise Refused(_("Metrics are off: no scraper is configured."), 403)
    if networks and not _allowed_address(request, networks):
        raise Refused(_("This address may not read the metrics."), 403)
    if token and not hmac.compare_digest(_bearer(request).encode(), token.encode()):
        raise Refused(_("Send the metrics token as a bearer token."), 401)
