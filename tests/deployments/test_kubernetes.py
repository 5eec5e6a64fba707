"""Deployments on Kubernetes, through the real `kubernetes` client against the test API server:
the Secret, Deployment and Service created and valid, a new version rolled out with the previous
one recorded as serving until every new replica is ready, a rollout the cluster gave up on,
roll back, scale, stop."""

import base64

import pytest
import yaml

from clusterjobs import project_ready
from clusterjobs.backends import get_backend
from clusterjobs.backends.kubernetes import namespace_name
from deployments import actions, cluster, tasks
from deployments.manifests import LABEL_VERSION
from deployments.models import Deployment, DeploymentStatus
from experiments import gateway
from portal.accounts.models import ApiToken
from tests.clusterjobs.conftest import assert_valid
from tests.clusterjobs.k8s_api import FakeKubernetes

pytestmark = pytest.mark.django_db
NAME = "serve-digits"


@pytest.fixture
def k8s(settings, tmp_path, personas):
    api = FakeKubernetes().start()
    path = tmp_path / "kubeconfig.yaml"
    path.write_text(yaml.safe_dump(api.kubeconfig(context="taller-test")))
    settings.TALLER_EXECUTOR = "kubernetes"
    settings.TALLER_KUBECONFIG = str(path)
    settings.TALLER_K8S_CONTEXT = "taller-test"
    settings.TALLER_K8S_TIMEOUT_SECONDS = 5
    settings.TALLER_RUN_AS_USER = 1000
    settings.TALLER_JOB_TRACKING_URI = "https://portal.example.edu/mlflow"
    project_ready.forget_project_ready(get_backend("kubernetes"), personas.project.slug)
    yield api
    api.stop()


def ns(personas) -> str:
    return namespace_name(personas.project.slug)


def template_version(k8s, personas) -> str:
    return k8s.get("deployments", ns(personas), NAME)["spec"]["template"]["metadata"]["labels"][LABEL_VERSION]


def serving(k8s, personas, registered, **fields) -> Deployment:
    """A deployment of v1 created on the cluster and rolled out."""
    asked = {"name": "digits", "model": registered.name, "version": "1", **fields}
    deployment = actions.create_deployment(personas.bob, personas.project, **asked)
    assert cluster.bring_in_line(deployment.pk) == "created"
    k8s.complete_rollout(ns(personas), NAME)
    assert cluster.bring_in_line(deployment.pk) == "serving"
    return Deployment.objects.get(pk=deployment.pk)


def test_create_puts_a_valid_secret_deployment_and_service_in_the_projects_namespace(
    k8s, personas, registered
):
    deployment = actions.create_deployment(
        personas.bob, personas.project, name="digits", model=registered.name, version="1"
    )
    assert deployment.backend == "kubernetes"
    assert cluster.bring_in_line(deployment.pk) == "created"
    namespace = ns(personas)
    assert k8s.get("namespaces", "", namespace) is not None
    assert k8s.items("resourcequotas", namespace)  # prepared as for jobs
    objects = {plural: k8s.get(plural, namespace, NAME) for plural in ("secrets", "deployments", "services")}
    for obj in objects.values():
        assert_valid({k: v for k, v in obj.items() if k != "status"})
    deployment.refresh_from_db()
    key = base64.b64decode(objects["secrets"]["data"]["MLFLOW_TRACKING_TOKEN"]).decode()
    assert ApiToken.objects.get(pk=deployment.token_id).revoked_at is None
    assert key and key not in str(objects["deployments"])
    assert objects["deployments"]["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert template_version(k8s, personas) == "1"
    # Not yet rolled out: nothing to forward to.
    assert cluster.bring_in_line(deployment.pk) == "rolling"
    deployment.refresh_from_db()
    assert (deployment.status, deployment.address, deployment.serving_version) == ("starting", "", "")
    k8s.complete_rollout(namespace, NAME)
    assert cluster.bring_in_line(deployment.pk) == "serving"
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.RUNNING
    assert deployment.serving_version == "1"
    assert deployment.address == f"http://{NAME}.{namespace}.svc:8080"


def test_a_new_version_serves_only_once_every_new_replica_is_ready_then_rolls_back(k8s, personas, registered):
    deployment = serving(k8s, personas, registered)
    actions.update_version(personas.bob, deployment, version="2")
    assert cluster.bring_in_line(deployment.pk) == "rolling"
    stored = k8s.get("deployments", ns(personas), NAME)
    assert template_version(k8s, personas) == "2"
    assert stored["metadata"]["generation"] == 2
    # Half-way: one new replica, not ready; the old one still serves and is recorded so.
    k8s.set_rollout(ns(personas), NAME, observedGeneration=2, updatedReplicas=1, readyReplicas=1, replicas=2)
    k8s.set_rollout(ns(personas), NAME, readyReplicas=0)
    assert cluster.bring_in_line(deployment.pk) == "rolling"
    deployment.refresh_from_db()
    assert (deployment.version, deployment.serving_version, deployment.status) == ("2", "1", "updating")
    k8s.complete_rollout(ns(personas), NAME)
    assert cluster.bring_in_line(deployment.pk) == "serving"
    deployment.refresh_from_db()
    assert (deployment.serving_version, deployment.previous_version, deployment.status) == (
        "2",
        "1",
        "running",
    )

    actions.roll_back(personas.bob, deployment)
    assert cluster.bring_in_line(deployment.pk) == "rolling"
    assert template_version(k8s, personas) == "1"
    k8s.complete_rollout(ns(personas), NAME)
    assert cluster.bring_in_line(deployment.pk) == "serving"
    deployment.refresh_from_db()
    assert (deployment.version, deployment.serving_version) == ("1", "1")


def test_a_rollout_past_its_deadline_keeps_the_previous_version_serving_and_says_why(
    k8s, personas, registered
):
    deployment = serving(k8s, personas, registered)
    actions.update_version(personas.bob, deployment, version="2")
    assert cluster.bring_in_line(deployment.pk) == "rolling"
    k8s.stall_rollout(ns(personas), NAME, 'ReplicaSet "serve-digits-2" has timed out progressing.')
    assert cluster.bring_in_line(deployment.pk) == "kept previous"
    deployment.refresh_from_db()
    assert (deployment.version, deployment.serving_version, deployment.status) == ("1", "1", "running")
    assert "version 2 did not roll out" in deployment.status_reason
    assert "timed out progressing" in deployment.status_reason
    assert deployment.address.startswith(f"http://{NAME}.")
    # The next look takes the cluster back to the version that serves.
    assert cluster.bring_in_line(deployment.pk) == "rolling"
    assert template_version(k8s, personas) == "1"


def test_a_first_rollout_that_fails_frees_the_quota_and_the_cluster(k8s, personas, registered):
    deployment = actions.create_deployment(
        personas.bob, personas.project, name="digits", model=registered.name, version="1"
    )
    cluster.bring_in_line(deployment.pk)
    k8s.stall_rollout(ns(personas), NAME, "no replica became ready")
    assert cluster.bring_in_line(deployment.pk) == "failed"
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.FAILED
    assert cluster.pending() == [deployment.pk]  # its objects and token are still out there
    assert cluster.bring_in_line(deployment.pk) == "removed"
    assert k8s.get("deployments", ns(personas), NAME) is None
    assert cluster.pending() == []


def test_scale_patches_the_replicas_and_keeps_the_template(k8s, personas, registered):
    deployment = serving(k8s, personas, registered)
    since = len(k8s.requests)
    actions.scale(personas.bob, deployment, replicas=2)
    assert cluster.bring_in_line(deployment.pk) == "scaling"
    assert ("PATCH", f"/apis/apps/v1/namespaces/{ns(personas)}/deployments/{NAME}") in k8s.requests_by_route(
        since
    )
    assert k8s.get("deployments", ns(personas), NAME)["spec"]["replicas"] == 2
    assert template_version(k8s, personas) == "1"
    assert cluster.bring_in_line(deployment.pk) == "rolling"  # the second replica not ready yet
    k8s.complete_rollout(ns(personas), NAME)
    assert cluster.bring_in_line(deployment.pk) == "serving"
    assert Deployment.objects.get(pk=deployment.pk).serving_replicas == 2


def test_stop_removes_the_deployment_service_and_secret_and_revokes_the_token(k8s, personas, registered):
    deployment = serving(k8s, personas, registered)
    token_id = deployment.token_id
    actions.stop(personas.bob, deployment)
    assert cluster.sync_all() == {deployment.pk: "removed"}
    for plural in ("deployments", "services", "secrets"):
        assert k8s.get(plural, ns(personas), NAME) is None
    assert ApiToken.objects.get(pk=token_id).revoked_at is not None
    deployment.refresh_from_db()
    assert (deployment.token_id, deployment.address) == (None, "")
    assert cluster.sync_all() == {}


def test_the_periodic_look_reads_each_live_deployment_once(k8s, personas, registered):
    deployment = serving(k8s, personas, registered)
    since = len(k8s.requests)
    assert cluster.sync_all() == {deployment.pk: "unchanged"}
    assert k8s.requests_by_route(since) == {
        ("GET", f"/apis/apps/v1/namespaces/{ns(personas)}/deployments/{NAME}"): 1
    }


def test_the_verbs_ask_for_a_look_once_committed_and_the_periodic_task_makes_it(
    k8s, personas, registered, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as sent:
        deployment = actions.create_deployment(
            personas.bob, personas.project, name="digits", model=registered.name, version="1"
        )
    # sync_deployment, sent once the deployment is committed (beside the serving processes' cue
    # to look their keys up again, known_keys.forget)
    assert [callback.__module__ for callback in sent].count("deployments.actions") == 1
    assert k8s.get("deployments", ns(personas), NAME) is None
    assert tasks.sync_deployments.apply().get() == 1
    assert k8s.get("deployments", ns(personas), NAME) is not None
    assert tasks.sync_deployment.apply(args=(deployment.pk,)).get() == "rolling"


def test_the_periodic_task_moves_a_deployment_that_follows_an_alias(k8s, personas, registered):
    deployment = serving(k8s, personas, registered, version="", alias="champion")
    gateway.set_alias(registered.full_name, "champion", "2")
    tasks.sync_deployments.apply().get()
    assert template_version(k8s, personas) == "2"
    deployment.refresh_from_db()
    assert (deployment.version, deployment.serving_version, deployment.alias) == ("2", "1", "champion")
