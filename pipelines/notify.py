"""Notifications: who is told what when a job or a pipeline run ends, and the deliveries.

``job_ended`` and ``run_ended`` (Celery tasks, sent on commit) write ``Delivery`` rows: an email
to the user who started it, if their choice for the project asks for it, and a call to each of the
project's webhooks. ``deliver`` sends one, from a task, retried with backoff; its outcome stays on
the row for the project's owners to see. No request, watcher or signal receiver sends anything.

Webhooks go only over https, and only to public addresses: the host is resolved and every address
it has is checked (no loopback, private, link-local, reserved or the cluster's ranges), and the
call connects to an address so checked (``outbound.py``), so a project cannot make the portal call
its own network."""

import hashlib
import hmac
import json
import secrets
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from clusterjobs.models import Job, JobStatus
from portal.projects.actions import record

from . import outbound, queue
from .models import Delivery, NotificationChoice, PipelineRun, RunStatus, Webhook

TIMEOUT_SECONDS = 10
SIGNATURE_HEADER = "X-Taller-Signature"
url_error = outbound.url_error


def add_webhook(
    user, project, url: str, kind: str = Webhook.Kind.CHAT, only_failures: bool = False
) -> Webhook:
    url = url.strip()
    if kind not in Webhook.Kind.values:
        raise ValidationError({"kind": _("Choose chat or signed.")})
    if message := url_error(url):
        raise ValidationError({"url": message})
    secret = secrets.token_hex(32) if kind == Webhook.Kind.SIGNED else ""
    with transaction.atomic():
        webhook = Webhook.objects.create(
            project=project, url=url, kind=kind, secret=secret, only_failures=only_failures, created_by=user
        )
        _record(user, webhook, "webhook.create", f"{kind} to {_host(url)}")
    return webhook


def _host(url: str) -> str:
    """Where a webhook goes, for the audit log: its host only (a chat service's URL path is its key)."""
    return urlsplit(url).hostname or ""


def _record(user, webhook: Webhook, verb: str, message: str) -> None:
    record(user, webhook.project, verb, message, target=f"webhook {webhook.pk}")


@transaction.atomic
def delete_webhook(user, webhook: Webhook) -> None:
    _record(user, webhook, "webhook.delete", _host(webhook.url))
    webhook.delete()


@transaction.atomic
def set_choice(user, project, **values) -> NotificationChoice:
    """A user's own choice of emails about their runs in ``project`` (``on_end``, ``on_failure``,
    ``wait_longer_than``: a timedelta or None; one not given keeps its value)."""
    choice, _created = NotificationChoice.objects.update_or_create(
        user=user, project=project, defaults=values
    )
    wait = choice.wait_longer_than
    message = (
        f"on end: {'yes' if choice.on_end else 'no'}, on failure: {'yes' if choice.on_failure else 'no'}, "
        f"waits longer than: {f'{int(wait.total_seconds() // 60)} min' if wait else 'never'}"
    )
    record(user, project, "notification.set", message, target=f"user {user.get_username()}")
    return choice


def _queue(project, user, subject: str, payload: dict, failed: bool) -> list[int]:
    rows = []
    choice = NotificationChoice.objects.filter(user=user, project=project).first()
    if user.email and choice and (choice.on_end or (failed and choice.on_failure)):
        rows.append(Delivery(email=user.email, subject=subject, payload=payload))
    for webhook in Webhook.objects.filter(project=project):
        if failed or not webhook.only_failures:
            rows.append(Delivery(webhook=webhook, subject=subject, payload=payload))
    created = Delivery.objects.bulk_create(rows)
    for row in created:
        queue.send_deliver(row.pk)
    return [row.pk for row in created]


def job_ended(job_id: int) -> list[int]:
    job = Job.objects.select_related("project", "submitter").filter(pk=job_id).first()
    if job is None or not job.is_terminal():
        return []
    subject = f"[{job.project.slug}] job {job.pk} {job.name}: {job.status}"
    payload = {"event": "job.ended", "project": job.project.slug, "job": job.pk, "name": job.name,
               "status": job.status, "reason": job.status_reason, "url": job.get_absolute_url()}  # fmt: skip
    return _queue(job.project, job.submitter, subject, payload, job.status == JobStatus.FAILED)


def run_ended(run_id: int) -> list[int]:
    run = PipelineRun.objects.select_related("project", "started_by", "pipeline").filter(pk=run_id).first()
    if run is None or not run.is_finished():
        return []
    subject = f"[{run.project.slug}] pipeline {run.pipeline.name} run {run.pk}: {run.status}"
    payload = {"event": "pipeline_run.ended", "project": run.project.slug, "pipeline_run": run.pk,
               "pipeline": run.pipeline.name, "status": run.status, "url": run.get_absolute_url()}  # fmt: skip
    return _queue(run.project, run.started_by, subject, payload, run.status == RunStatus.FAILED)


def test_delivery(user, webhook: Webhook) -> int:
    payload = {"event": "test", "project": webhook.project.slug}
    with transaction.atomic():
        row = Delivery.objects.create(
            webhook=webhook, subject=f"[{webhook.project.slug}] test from Taller", payload=payload
        )
        _record(user, webhook, "webhook.test", _host(webhook.url))
    queue.send_deliver(row.pk)
    return row.pk


def body_of(delivery: Delivery) -> bytes:
    webhook = delivery.webhook
    if webhook.kind == Webhook.Kind.CHAT:
        path = delivery.payload.get("url", "")
        link = f" {settings.TALLER_PUBLIC_URL}{path}" if path else ""
        return json.dumps({"text": f"{delivery.subject}{link}"}).encode()
    return json.dumps({"subject": delivery.subject, **delivery.payload}, sort_keys=True).encode()


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(delivery_id: int) -> float | None:
    """Send one delivery; returns the seconds to wait before the next attempt, or None when done
    (sent, or failed for good: a 4xx answer, a refused address, out of attempts)."""
    delivery = (
        Delivery.objects.select_related("webhook")
        .filter(pk=delivery_id, status=Delivery.Status.PENDING)
        .first()
    )
    if delivery is None:
        return None
    Delivery.objects.filter(pk=delivery.pk).update(attempts=F("attempts") + 1)
    attempt = delivery.attempts + 1
    error, retry = _send(delivery)
    if error is None:
        Delivery.objects.filter(pk=delivery.pk).update(
            status=Delivery.Status.SENT, sent_at=timezone.now(), last_error=""
        )
        return None
    if retry and attempt < settings.TALLER_NOTIFY_MAX_ATTEMPTS:
        Delivery.objects.filter(pk=delivery.pk).update(last_error=error)
        return min(10 * 2 ** (attempt - 1), 3600)
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.FAILED, last_error=error)
    return None


def _send(delivery: Delivery) -> tuple[str | None, bool]:
    """(error, worth retrying)."""
    if delivery.webhook is None:
        try:
            send_mail(delivery.subject, json.dumps(delivery.payload, indent=2), None, [delivery.email])
        except OSError as error:
            return str(error), True
        return None, False
    webhook = delivery.webhook
    body = body_of(delivery)
    headers = {"Content-Type": "application/json", "User-Agent": "Taller"}
    if webhook.kind == Webhook.Kind.SIGNED:
        headers[SIGNATURE_HEADER] = sign(webhook.secret, body)
    try:
        # Checked again, and the connection goes to the address checked: what a name resolves to
        # may change, even between a check and a connection.
        status = outbound.post(webhook.url, body, headers, TIMEOUT_SECONDS)
    except outbound.Refused as refused:
        return refused.message, False
    except urllib3.exceptions.HTTPError as error:
        return f"{type(error).__name__}: {error}"[:500], True
    if status < 300:
        return None, False
    return f"HTTP {status}", status >= 500 or status == 429
