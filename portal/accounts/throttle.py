"""Who is asking (the client's address behind trusted reverse proxies) and the sign-in limit.

Behind a reverse proxy, ``REMOTE_ADDR`` is the proxy's address for every user, so a limit keyed on
it locks the whole site. ``X-Forwarded-For`` is believed only as far as it was written by proxies
listed in ``TALLER_TRUSTED_PROXIES``: read from the right, each trusted hop names the address it
saw; the first address that is not a trusted proxy is the client. A client that is not a trusted
proxy cannot move its address by sending the header itself.
"""

import ipaddress
from collections.abc import Callable
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().removeprefix("[").removesuffix("]"))
    except ValueError:
        return None


def _trusted(address, networks: tuple[Network, ...]) -> bool:
    return any(address in network for network in networks)


def client_ip(request: HttpRequest) -> str:
    """The address of the client: the one the last trusted proxy saw, else ``REMOTE_ADDR``."""
    remote = request.META.get("REMOTE_ADDR", "")
    networks = _networks(tuple(settings.TALLER_TRUSTED_PROXIES))
    client = _address(remote)
    if client is None or not networks or not _trusted(client, networks):
        return remote
    hops = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:  # not written by a trusted proxy: stop at the last address one did write
            break
        client = address
        if not _trusted(address, networks):
            break
    return str(client)


def _address_key(group: str, request: HttpRequest) -> str:
    """IPv6 clients are counted per /64: one machine usually holds the whole block."""
    address = _address(client_ip(request))
    if address is not None and address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address or "")


def _username_key(group: str, request: HttpRequest) -> str:
    return request.POST.get("username", "").strip().casefold()


def _limits() -> list[tuple[str, Callable[[str, HttpRequest], str], str]]:
    """(group, key, rate): a username and an address each have their own budget of failures."""
    return [
        ("login-user", _username_key, settings.LOGIN_RATE),
        ("login-address", _address_key, settings.LOGIN_ADDRESS_RATE),
    ]


def login_locked(request: HttpRequest) -> bool:
    """Whether this username or this client address has used up its failed sign-ins.

    Only failures count, so the right password is never refused because of the user's own
    successful sign-ins, and a lock holds one username or one address, never the site.
    """
    for group, key, rate in _limits():
        usage = get_usage(request, group=group, key=key, rate=rate, method="POST", increment=False)
        if usage is not None and usage["count"] >= usage["limit"]:
            return True
    return False


def count_failed_login(request: HttpRequest) -> None:
    """A failed sign-in counts against the username tried and against the client's address."""
    for group, key, rate in _limits():
        get_usage(request, group=group, key=key, rate=rate, method="POST", increment=True)
