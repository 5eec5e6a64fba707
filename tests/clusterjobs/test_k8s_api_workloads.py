"""The test API server's apps/v1 Deployments and v1 Services through the real client: created with
defaults, read, listed by label, replaced (a new generation), patched, deleted; a manifest that
breaks the schema refused with 422; the Deployment controller's status as a test sets it."""

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from .test_k8s_api_lists import send

NS = "taller-genomics"


@pytest.fixture
def apis(cluster):
    api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    cluster.api.create("namespaces", "", {"metadata": {"name": NS}})
    return client.AppsV1Api(api_client), client.CoreV1Api(api_client)


def deployment(name: str = "web", image: str = "nginx:1.27") -> dict:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
        },
    }


def test_deployments_are_created_read_listed_replaced_patched_and_deleted(cluster, apis):
    apps, _core = apis
    created = apps.create_namespaced_deployment(NS, deployment())
    assert created.metadata.generation == 1 and created.spec.revision_history_limit == 10
    apps.create_namespaced_deployment(NS, deployment("other"))
    listed = apps.list_namespaced_deployment(NS, label_selector="app=web")
    assert [d.metadata.name for d in listed.items] == ["web"]
    current = apps.read_namespaced_deployment("web", NS)
    body = deployment(image="nginx:1.28")
    body["metadata"]["resourceVersion"] = current.metadata.resource_version
    replaced = apps.replace_namespaced_deployment("web", NS, body)
    assert (replaced.metadata.generation, replaced.spec.template.spec.containers[0].image) == (
        2,
        "nginx:1.28",
    )
    with pytest.raises(ApiException) as stale:
        apps.replace_namespaced_deployment("web", NS, body)
    assert stale.value.status == 409
    patched = apps.patch_namespaced_deployment("web", NS, {"spec": {"replicas": 3}})
    assert (patched.spec.replicas, patched.metadata.generation) == (3, 3)
    cluster.api.complete_rollout(NS, "web")
    status = apps.read_namespaced_deployment("web", NS).status
    assert (status.observed_generation, status.ready_replicas, status.updated_replicas) == (3, 3, 3)
    apps.delete_namespaced_deployment("web", NS)
    with pytest.raises(ApiException) as gone:
        apps.read_namespaced_deployment("web", NS)
    assert gone.value.status == 404


def test_a_deployment_or_patch_that_breaks_the_schema_is_refused(cluster, apis):
    """Sent raw: the `kubernetes` client checks types before sending."""
    apps, _core = apis
    path = f"/apis/apps/v1/namespaces/{NS}/deployments"
    body = deployment()
    body["spec"]["replica"] = 2  # misspelt: the strict schema knows no such field
    code, answer = send(cluster.api, "POST", path, body)
    assert (code, answer["reason"]) == (422, "Invalid")
    assert "replica" in answer["message"]
    assert cluster.api.get("deployments", NS, "web") is None
    apps.create_namespaced_deployment(NS, deployment())
    code, answer = send(cluster.api, "PATCH", f"{path}/web", {"spec": {"replicas": "many"}})
    assert code == 422
    assert cluster.api.get("deployments", NS, "web")["spec"]["replicas"] == 1


def test_services_are_created_read_and_deleted(cluster, apis):
    _apps, core = apis
    service = {
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 8080, "targetPort": "http"}]},
    }
    created = core.create_namespaced_service(NS, service)
    assert (created.spec.type, created.spec.ports[0].protocol) == ("ClusterIP", "TCP")
    assert core.read_namespaced_service("web", NS).spec.selector == {"app": "web"}
    core.delete_namespaced_service("web", NS)
    assert cluster.api.get("services", NS, "web") is None
