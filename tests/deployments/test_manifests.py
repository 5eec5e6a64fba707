"""The Kubernetes side of a deployment: its Secret, Deployment and Service, validated against the
published schema, in the project's namespace, restricted like jobs, probed, rolled one replica
at a time with none taken away first; a new version (or a roll back) changes the Pod template."""

from decimal import Decimal

import pytest

from deployments.manifests import deployment_manifest, secret_manifest, service_address, service_manifest
from deployments.models import Deployment, DeploymentStatus
from tests.clusterjobs.conftest import assert_valid
from tests.clusterjobs.k8s_api.validation import semantic_errors

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployment(personas, settings) -> Deployment:
    settings.TALLER_SERVING_IMAGE = "registry.example.edu/mlflow:3.17.2"
    return Deployment.objects.create(
        project=personas.project, name="digits", model_name="genomics.digits", version="2", replicas=3,
        cpu=Decimal("1.5"), memory_mib=2048, gpus=1, status=DeploymentStatus.STARTING, created_by=personas.bob,
    )  # fmt: skip


def test_the_manifests_are_valid_and_restricted(deployment):
    secret, served, service = (
        secret_manifest(deployment, "tlr_secret"),
        deployment_manifest(deployment),
        service_manifest(deployment),
    )
    for manifest in (secret, served, service):
        assert_valid(manifest)
        assert manifest["metadata"]["namespace"] == "taller-genomics"
        assert manifest["metadata"]["name"] == "serve-digits"
    for plural, manifest in (("secrets", secret), ("deployments", served), ("services", service)):
        assert semantic_errors(plural, manifest) == []  # names and label values the API server takes
    spec = served["spec"]
    assert spec["replicas"] == 3
    assert spec["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["image"] == "registry.example.edu/mlflow:3.17.2"
    assert "models:/genomics.digits/2" in container["command"]
    assert container["resources"]["limits"] == {"cpu": "1500m", "memory": "2048Mi", "nvidia.com/gpu": "1"}
    assert container["resources"]["requests"] == container["resources"]["limits"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ping"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    # The token is in the Secret alone; the Pod refers to it.
    assert "tlr_secret" not in str(served)
    token = next(e for e in container["env"] if e["name"] == "MLFLOW_TRACKING_TOKEN")
    assert token["valueFrom"]["secretKeyRef"] == {"name": "serve-digits", "key": "MLFLOW_TRACKING_TOKEN"}
    assert service["spec"]["selector"] == spec["selector"]["matchLabels"]
    assert set(spec["selector"]["matchLabels"].items()) <= set(spec["template"]["metadata"]["labels"].items())
    assert service_address(deployment) == "http://serve-digits.taller-genomics.svc:8080"


def test_a_new_version_changes_the_pod_template_and_a_roll_back_restores_it(deployment):
    before = deployment_manifest(deployment)["spec"]["template"]
    deployment.version = "3"
    after = deployment_manifest(deployment)["spec"]["template"]
    assert after != before and after["metadata"]["labels"]["taller.io/model-version"] == "3"
    deployment.version = "2"
    assert deployment_manifest(deployment)["spec"]["template"] == before
