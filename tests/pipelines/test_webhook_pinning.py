"""A webhook's connection goes to the address the check approved, not to a second DNS answer
(DNS rebinding), and it still speaks TLS to the name: a real HTTPS server started here, with a
certificate for the webhook's host name from a throwaway CA, receives the calls.

The resolver (``socket.getaddrinfo``, outside our code) is replaced to answer differently at
each lookup of the webhook's name, as a rebinding DNS server would."""

import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import trustme

from pipelines import notify
from pipelines.models import Delivery, Webhook

pytestmark = pytest.mark.django_db
HOST = "hooks.example.org"
PUBLIC = "93.184.216.34"  # what the check sees: a public address


@pytest.fixture
def https_server(tmp_path, settings):
    """An HTTPS server on 127.0.0.1 whose certificate names HOST; the portal trusts its CA."""
    ca = trustme.CA()
    calls = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            calls.append((self.headers["Host"], json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST).configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    settings.TALLER_WEBHOOK_CA_BUNDLE = str(bundle)
    yield server.server_port, calls
    server.shutdown()


@pytest.fixture
def dns(monkeypatch):
    """Answers for HOST, one per lookup (the last one repeats); other names resolve as usual.
    Returns the answers list and the lookups made of HOST."""
    real = socket.getaddrinfo
    answers: list[str] = []
    lookups: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host == HOST:
            address = answers.pop(0) if len(answers) > 1 else answers[0]
            lookups.append(address)
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]
        if host == PUBLIC:  # the public address is not reachable from the test machine
            raise socket.gaierror(socket.EAI_NONAME, "unreachable in the test")
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, lookups


def delivery_to(personas, port: int) -> Delivery:
    webhook = Webhook.objects.create(
        project=personas.project, url=f"https://{HOST}:{port}/hook", created_by=personas.alice
    )
    return Delivery.objects.create(webhook=webhook, subject="[genomics] test", payload={"event": "test"})


def test_a_name_rebound_to_loopback_after_the_check_is_not_reached(personas, https_server, dns):
    port, calls = https_server
    answers, lookups = dns
    answers += [PUBLIC, "127.0.0.1"]  # public when checked, loopback afterwards
    delivery = delivery_to(personas, port)
    assert notify.deliver(delivery.pk) is not None  # a network error: retried later
    assert calls == []  # 127.0.0.1 was never called
    assert lookups == [PUBLIC]  # the name was resolved once, by the check
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.last_error


def test_the_checked_address_is_the_one_connected_to(personas, https_server, dns, settings):
    """The check approves 127.0.0.1 (a trusted host here); the name then resolves elsewhere, and
    the call still goes to 127.0.0.1, over TLS verified for the name."""
    port, calls = https_server
    answers, lookups = dns
    settings.TALLER_WEBHOOK_TRUSTED_HOSTS = [HOST]
    answers += ["127.0.0.1", PUBLIC]
    delivery = delivery_to(personas, port)
    assert notify.deliver(delivery.pk) is None
    assert calls == [(f"{HOST}:{port}", {"text": "[genomics] test"})]
    assert lookups == ["127.0.0.1"]
    delivery.refresh_from_db()
    assert delivery.status == "sent"


def test_the_certificate_is_checked_for_the_name(personas, https_server, dns, settings, tmp_path):
    """Pinning the address keeps TLS verification: a CA the portal does not trust is refused."""
    port, calls = https_server
    answers, _lookups = dns
    settings.TALLER_WEBHOOK_TRUSTED_HOSTS = [HOST]
    answers.append("127.0.0.1")
    other = tmp_path / "other.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    settings.TALLER_WEBHOOK_CA_BUNDLE = str(other)
    delivery = delivery_to(personas, port)
    assert notify.deliver(delivery.pk) is not None
    assert calls == []
    delivery.refresh_from_db()
    assert "SSL" in delivery.last_error or "certificate" in delivery.last_error.lower()
