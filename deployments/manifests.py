"""A deployment on Kubernetes: a Secret with its token, an apps/v1 Deployment of model servers
and a Service in front of them, in the project's namespace; pure functions of a deployment and
the site's settings, so they are asserted and validated against the published schema on their
own.

The Deployment rolls out one new replica at a time and takes none away before the new one is
ready (``maxUnavailable: 0``), readiness and liveness probes on MLflow's scoring server's
``/ping`` and ``/health``; the version is in the Pod template, so a new version (or a roll back,
which is the previous version again) is a rollout that the cluster stops, the old replicas still
serving, when it does not progress. Pods run with the restricted Pod Security profile of jobs.
"""

from django.conf import settings

from clusterjobs.backends.kubernetes import (
    cpu_quantity,
    memory_quantity,
    namespace_name,
    restricted_container_security,
    restricted_pod_security,
)

from .models import Deployment

LABEL_DEPLOYMENT = "taller.io/deployment"
LABEL_PROJECT = "taller.io/project"
LABEL_VERSION = "taller.io/model-version"
MANAGED_BY = {"app.kubernetes.io/managed-by": "taller"}
PORT = 8080
TOKEN_KEY = "MLFLOW_TRACKING_TOKEN"


def object_name(deployment: Deployment) -> str:
    """``serve-<name>``: names are unique in a project, hence in its namespace."""
    return f"serve-{deployment.name}"


def _labels(deployment: Deployment) -> dict:
    return {LABEL_DEPLOYMENT: deployment.name, LABEL_PROJECT: deployment.project.slug, **MANAGED_BY}


def _metadata(deployment: Deployment) -> dict:
    return {
        "name": object_name(deployment),
        "namespace": namespace_name(deployment.project.slug),
        "labels": _labels(deployment),
    }


def secret_manifest(deployment: Deployment, token: str) -> dict:
    """The deployment's token (its project's tracking through the proxy only), never in a spec."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(deployment),
        "type": "Opaque",
        "stringData": {TOKEN_KEY: token},
    }


def deployment_manifest(deployment: Deployment, *, run_as_user: int = 1000) -> dict:
    quantities = {"cpu": cpu_quantity(deployment.cpu), "memory": memory_quantity(deployment.memory_mib)}
    if deployment.gpus:
        quantities["nvidia.com/gpu"] = str(deployment.gpus)
    probe = {"port": PORT}
    container = {
        "name": "server",
        "image": settings.TALLER_SERVING_IMAGE,
        "command": deployment.serve_command("mlflow", "0.0.0.0", PORT, 1),
        "ports": [{"name": "http", "containerPort": PORT}],
        "env": [
            {"name": "MLFLOW_TRACKING_URI", "value": settings.TALLER_JOB_TRACKING_URI},
            {"name": "HOME", "value": "/tmp"},
            {
                "name": TOKEN_KEY,
                "valueFrom": {"secretKeyRef": {"name": object_name(deployment), "key": TOKEN_KEY}},
            },
        ],
        "resources": {"requests": dict(quantities), "limits": dict(quantities)},
        "readinessProbe": {"httpGet": {"path": "/ping", **probe}, "periodSeconds": 5, "failureThreshold": 3},
        "livenessProbe": {
            "httpGet": {"path": "/health", **probe},
            "initialDelaySeconds": 60,
            "periodSeconds": 20,
            "failureThreshold": 3,
        },
        "startupProbe": {"httpGet": {"path": "/ping", **probe}, "periodSeconds": 5, "failureThreshold": 60},
        "securityContext": restricted_container_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    labels = _labels(deployment)
    template_labels = {**labels, LABEL_VERSION: deployment.version}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(deployment),
        "spec": {
            "replicas": deployment.replicas,
            "selector": {
                "matchLabels": {LABEL_DEPLOYMENT: deployment.name, LABEL_PROJECT: deployment.project.slug}
            },
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "progressDeadlineSeconds": settings.TALLER_DEPLOY_START_SECONDS,
            "revisionHistoryLimit": 5,
            "template": {
                "metadata": {"labels": template_labels},
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": restricted_pod_security(run_as_user),
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }


def service_manifest(deployment: Deployment) -> dict:
    """Where the portal forwards calls: ``http://serve-<name>.<namespace>.svc:8080``."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(deployment),
        "spec": {
            "type": "ClusterIP",
            "selector": {LABEL_DEPLOYMENT: deployment.name, LABEL_PROJECT: deployment.project.slug},
            "ports": [{"name": "http", "port": PORT, "targetPort": "http"}],
        },
    }


def service_address(deployment: Deployment) -> str:
    return f"http://{object_name(deployment)}.{namespace_name(deployment.project.slug)}.svc:{PORT}"
