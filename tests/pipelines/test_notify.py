"""Notifications: email through Django's outbox by each user's choice, webhooks to a real HTTP
server started here (the signature checked, a 500 retried, a 4xx not), and the refusals of
addresses the portal must not call."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from clusterjobs.models import Job, JobStatus
from pipelines import notify
from pipelines.models import Delivery, NotificationChoice, Webhook

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver(settings):
    """An HTTP server on 127.0.0.1 answering the statuses queued in ``answers``; trusted for the test."""
    calls, answers = [], []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            calls.append((dict(self.headers), body))
            self.send_response(answers.pop(0) if answers else 200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.TALLER_WEBHOOK_TRUSTED_HOSTS = ["127.0.0.1"]
    yield f"http://127.0.0.1:{server.server_port}/hook", calls, answers
    server.shutdown()


def ended_job(personas, status=JobStatus.FAILED) -> Job:
    return Job.objects.create(
        project=personas.project, submitter=personas.bob, name="train", image="python:3.11-slim",
        command=["true"], status=status, status_reason="exited with code 1",
    )  # fmt: skip


@pytest.mark.parametrize(
    "url",
    ["http://8.8.8.8/hook", "https://127.0.0.1/hook", "https://10.1.2.3/", "https://169.254.169.254/latest",
     "https://[::1]/hook", "https://localhost/hook", "https://192.168.0.1/", "https://100.64.0.1/"],
)  # fmt: skip
def test_addresses_the_portal_will_not_call(personas, url):
    with pytest.raises(ValidationError) as caught:
        notify.add_webhook(personas.alice, personas.project, url)
    assert "url" in caught.value.message_dict
    assert not Webhook.objects.exists()


def test_a_public_address_passes_unless_its_range_is_blocked(personas, settings):
    assert notify.url_error("https://8.8.8.8/hook") is None
    settings.TALLER_WEBHOOK_BLOCKED_NETWORKS = ["8.8.8.0/24"]
    assert "does not call it" in notify.url_error("https://8.8.8.8/hook")


def test_email_by_choice(personas):
    job = ended_job(personas)
    assert notify.job_ended(job.pk) == []  # no choice made, no webhook: nobody is told
    NotificationChoice.objects.create(user=personas.bob, project=personas.project, on_failure=True)
    (delivery,) = notify.job_ended(job.pk)
    assert notify.deliver(delivery) is None
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [personas.bob.email]
    assert mail.outbox[0].subject == f"[genomics] job {job.pk} train: failed"
    assert Delivery.objects.get(pk=delivery).status == "sent"
    succeeded = ended_job(personas, JobStatus.SUCCEEDED)
    assert notify.job_ended(succeeded.pk) == []  # only failures asked for


def test_signed_webhook_retried_after_a_500(personas, receiver):
    url, calls, answers = receiver
    webhook = notify.add_webhook(personas.alice, personas.project, url, kind="signed")
    answers.append(500)
    (delivery,) = notify.job_ended(ended_job(personas).pk)
    assert notify.deliver(delivery) == 10  # retried in 10 s
    row = Delivery.objects.get(pk=delivery)
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "HTTP 500")
    assert notify.deliver(delivery) is None
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("sent", 2)
    headers, body = calls[-1]
    expected = "sha256=" + hmac.new(webhook.secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Taller-Signature"] == expected
    assert json.loads(body)["event"] == "job.ended" and json.loads(body)["status"] == "failed"


def test_chat_webhook_body_and_a_4xx_is_final(personas, receiver):
    url, calls, answers = receiver
    notify.add_webhook(personas.alice, personas.project, url, kind="chat", only_failures=True)
    assert notify.job_ended(ended_job(personas, JobStatus.SUCCEEDED).pk) == []
    answers.append(404)
    (delivery,) = notify.job_ended(ended_job(personas).pk)
    assert notify.deliver(delivery) is None
    row = Delivery.objects.get(pk=delivery)
    assert (row.status, row.last_error) == ("failed", "HTTP 404")
    text = json.loads(calls[-1][1])["text"]
    assert text.startswith("[genomics] job ") and "failed" in text and "/jobs/" in text


def test_out_of_attempts(personas, receiver, settings):
    url, calls, answers = receiver
    settings.TALLER_NOTIFY_MAX_ATTEMPTS = 2
    webhook = notify.add_webhook(personas.alice, personas.project, url)
    answers.extend([503, 503])
    delivery = notify.test_delivery(personas.alice, webhook)
    assert notify.deliver(delivery) == 10 and notify.deliver(delivery) is None
    assert Delivery.objects.get(pk=delivery).status == "failed" and len(calls) == 2
