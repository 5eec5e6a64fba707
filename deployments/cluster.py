"""Deployments on Kubernetes: the cluster brought in line with a deployment's row, one look at a
time (one read of its Deployment, and at most the calls that mend what differs), from a Celery
task sent after each verb and from beat's periodic ``sync_deployments``; never from a page.

A verb writes what should serve (``version``, ``replicas``); a look creates the Secret (the
deployment's own workload token), the Deployment and the Service in the project's namespace
(prepared as for jobs), replaces the Deployment's pod template when the version changed (a
rolling update that takes no old replica away before a new one is ready), patches its replicas,
and removes all three once the deployment stopped or failed. ``serving_version`` moves, and the
``address`` becomes the Service's cluster DNS name, only when the rollout is complete (the
controller observed the template and every replica is updated and ready); a rollout the cluster
gave up on (its progress deadline passed) puts the version that serves back as the one wanted,
with the reason, and the next look rolls the cluster back to it.
"""

import logging

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from clusterjobs.backends import BackendError, get_backend
from clusterjobs.backends.kubernetes import namespace_name, rollout, workloads
from clusterjobs.project_ready import ensure_project
from portal.accounts.actions import create_token
from portal.accounts.models import ApiToken

from .manifests import (
    LABEL_VERSION,
    deployment_manifest,
    object_name,
    secret_manifest,
    service_address,
    service_manifest,
)
from .models import LIVE, Deployment, DeploymentStatus

log = logging.getLogger(__name__)
BACKEND = "kubernetes"


def pending() -> "list[int]":
    """The deployments a look may have something to do for: live ones, and stopped or failed ones
    whose objects (and token) are still on the cluster."""
    rows = Deployment.objects.filter(backend=BACKEND).filter(Q(status__in=LIVE) | Q(token__isnull=False))
    return list(rows.values_list("pk", flat=True))


def sync_all() -> dict[int, str]:
    """One look at each pending deployment; a cluster error for one does not stop the others."""
    done = {}
    for pk in pending():
        try:
            done[pk] = bring_in_line(pk)
        except BackendError as error:
            log.warning("deployment %s: %s", pk, error)
            done[pk] = str(error)
    return done


def bring_in_line(pk: int) -> str:
    """One look at deployment ``pk`` on the cluster; what it did, in a word (for logs and tests)."""
    deployment = Deployment.objects.select_related("project", "created_by").get(pk=pk)
    if deployment.backend != BACKEND:
        return "elsewhere"
    api = workloads(get_backend(BACKEND))
    namespace, name = namespace_name(deployment.project.slug), object_name(deployment)
    rows = Deployment.objects.filter(pk=pk)
    if deployment.status not in LIVE:
        api.remove(namespace, name)
        if deployment.token_id:
            ApiToken.objects.filter(pk=deployment.token_id, revoked_at__isnull=True).update(
                revoked_at=timezone.now()
            )
        rows.update(token=None, address="", serving_replicas=0)
        return "removed"
    current = api.read(namespace, name)
    desired = deployment_manifest(deployment, run_as_user=settings.TALLER_RUN_AS_USER)
    if current is None:
        return _create(api, deployment, desired)
    if current["spec"]["template"]["metadata"]["labels"].get(LABEL_VERSION) != deployment.version:
        api.replace(current, desired)
        return "rolling"
    if int(current["spec"].get("replicas", 1)) != deployment.replicas:
        api.scale(namespace, name, deployment.replicas)
        return "scaling"
    state = rollout(current)
    if state.failed:
        return _failed(deployment, state.message)
    if state.done:
        fields = {
            "serving_version": deployment.version,
            "serving_replicas": deployment.replicas,
            "address": service_address(deployment),
            "status": DeploymentStatus.RUNNING,
        }
        if any(getattr(deployment, key) != value for key, value in fields.items()):
            rows.filter(version=deployment.version, replicas=deployment.replicas, status__in=LIVE).update(
                **fields, status_reason=gettext_noop("serving"), updated_at=timezone.now()
            )
            return "serving"
        return "unchanged"
    return "rolling"


def _create(api, deployment: Deployment, desired: dict) -> str:
    ensure_project(get_backend(BACKEND), deployment.project)
    if deployment.token_id:  # an earlier set of objects went away: its token with it
        ApiToken.objects.filter(pk=deployment.token_id, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    token, key = create_token(
        deployment.created_by, f"deployment {deployment.pk}", project=deployment.project
    )
    Deployment.objects.filter(pk=deployment.pk).update(token=token)
    api.create(secret_manifest(deployment, key), desired, service_manifest(deployment))
    return "created"


def _failed(deployment: Deployment, message: str) -> str:
    reason = f"version {deployment.version} did not roll out: {message}"[:500]
    rows = Deployment.objects.filter(pk=deployment.pk, version=deployment.version, status__in=LIVE)
    if deployment.serving_version and deployment.serving_version != deployment.version:
        # The previous version still serves (no old replica went before a new one was ready).
        rows.update(
            version=deployment.serving_version,
            replicas=deployment.serving_replicas or deployment.replicas,
            status=DeploymentStatus.RUNNING,
            status_reason=reason,
            updated_at=timezone.now(),
        )
        return "kept previous"
    rows.update(status=DeploymentStatus.FAILED, status_reason=reason, address="", updated_at=timezone.now())
    return "failed"
