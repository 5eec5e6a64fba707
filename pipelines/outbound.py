"""Calling a webhook: the address check and the connection use the same DNS answer.

``resolve`` looks the host up once and refuses it if any of its addresses is loopback, private,
link-local, reserved or in ``TALLER_WEBHOOK_BLOCKED_NETWORKS`` (hosts named in
``TALLER_WEBHOOK_TRUSTED_HOSTS`` skip the check). ``post`` then connects to one of those checked
addresses itself, never to the name: a DNS answer that changes between the check and the
connection (DNS rebinding) cannot send the portal to its own network. The request keeps the name
in its Host header, and over https the TLS server name (SNI) and the certificate check are for the
name too, so pinning the address weakens nothing."""

import ipaddress
import socket
from urllib.parse import urlsplit

import certifi
import urllib3
from django.conf import settings
from django.utils.translation import gettext as _


class Refused(Exception):
    """The portal will not call this address; ``message`` says why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _port(parts) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)


def resolve(url: str) -> list[str]:
    """The addresses ``url``'s host resolves to, each checked; raises ``Refused``."""
    parts = urlsplit(url)
    trusted = parts.hostname in settings.TALLER_WEBHOOK_TRUSTED_HOSTS
    if parts.scheme != "https" and not (parts.scheme == "http" and trusted):
        raise Refused(_("Webhooks are called over https only."))
    if not parts.hostname:
        raise Refused(_("Give a full address, e.g. https://chat.example.edu/hooks/abc."))
    try:
        infos = socket.getaddrinfo(parts.hostname, _port(parts), proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, ValueError) as error:
        raise Refused(_("The host %(host)s does not resolve.") % {"host": parts.hostname}) from error
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if trusted:
        return addresses
    blocked = [ipaddress.ip_network(n, strict=False) for n in settings.TALLER_WEBHOOK_BLOCKED_NETWORKS]
    for text in addresses:
        address = ipaddress.ip_address(text.split("%")[0])
        if not address.is_global or any(address in network for network in blocked):
            raise Refused(
                _("The host %(host)s is a private, loopback or cluster address: the portal does not call it.")
                % {"host": parts.hostname}
            )
    return addresses


def url_error(url: str) -> str | None:
    """Why the portal will not call ``url``, or None."""
    try:
        resolve(url)
    except Refused as refused:
        return refused.message
    return None


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST ``body`` to ``url`` through one of its checked addresses; returns the HTTP status.
    Raises ``Refused``, or ``urllib3.exceptions.HTTPError`` when no address answers."""
    addresses = resolve(url)
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {**headers, "Host": parts.netloc.rpartition("@")[2]}
    error: urllib3.exceptions.HTTPError | None = None
    for address in addresses:
        pool = _pool(parts, address, timeout)
        try:
            with pool:
                response = pool.urlopen(
                    "POST", path, body=body, headers=headers, redirect=False, retries=False
                )
            return response.status
        except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError) as failed:
            error = failed  # this address does not answer: the next checked one may
    assert error is not None
    raise error


def _pool(parts, address: str, timeout: float) -> urllib3.HTTPConnectionPool:
    """A connection pool to ``address``; over https, the server name and certificate are the URL's host."""
    options = {"timeout": urllib3.Timeout(total=timeout), "retries": False, "maxsize": 1}
    if parts.scheme == "http":
        return urllib3.HTTPConnectionPool(address, _port(parts), **options)
    return urllib3.HTTPSConnectionPool(
        address,
        _port(parts),
        server_hostname=parts.hostname,
        assert_hostname=parts.hostname,
        cert_reqs="CERT_REQUIRED",
        ca_certs=settings.TALLER_WEBHOOK_CA_BUNDLE or certifi.where(),
        **options,
    )
