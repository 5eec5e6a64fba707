"""The test API server's paged lists and its refusal of manifests, through the real client: pages
in (namespace, name) order that resume after the last key, selectors, and strict schema checks."""

import json
import urllib.error
import urllib.request

import kubernetes_validate
import pytest
from kubernetes import client, config

from .conftest import assert_valid, make_spec

NS = "taller-genomics"


@pytest.fixture
def core(cluster) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(config_file=str(cluster.kubeconfig)))


def add_pods(api, namespace: str, names: list[str], labels: dict | None = None) -> None:
    if api.get("namespaces", "", namespace) is None:
        api.create("namespaces", "", {"metadata": {"name": namespace}})
    for name in names:
        api.create(
            "pods",
            namespace,
            {
                "metadata": {"name": name, "labels": labels or {}},
                "spec": {"containers": [{"name": "main", "image": "busybox"}]},
            },
        )


def pages(core: client.CoreV1Api, limit: int, **selector) -> list[dict]:
    answers, token = [], None
    while True:
        answer = json.loads(
            core.list_pod_for_all_namespaces(
                limit=limit, _continue=token, _preload_content=False, **selector
            ).data
        )
        answers.append(answer)
        token = answer["metadata"].get("continue")
        if not token:
            return answers


def names(answers: list[dict]) -> list[list[tuple[str, str]]]:
    return [
        [(item["metadata"]["namespace"], item["metadata"]["name"]) for item in answer["items"]]
        for answer in answers
    ]


def test_pages_across_namespaces_follow_the_key_order_and_count_what_remains(cluster, core):
    add_pods(cluster.api, "b", ["p3", "p1"])
    add_pods(cluster.api, "a", ["p2", "p9", "p10"])

    answers = pages(core, limit=2)

    assert names(answers) == [[("a", "p10"), ("a", "p2")], [("a", "p9"), ("b", "p1")], [("b", "p3")]]
    assert [answer["metadata"].get("remainingItemCount") for answer in answers] == [3, 1, None]
    assert len({answer["metadata"]["resourceVersion"] for answer in answers}) == 1


def test_a_full_last_page_has_no_continue(cluster, core):
    add_pods(cluster.api, "a", ["p1", "p2"])

    assert names(pages(core, limit=2)) == [[("a", "p1"), ("a", "p2")]]


def test_selectors_fill_each_page_from_the_matching_objects_only(cluster, core):
    add_pods(cluster.api, "a", ["p1", "p2", "p3"], {"taller.io/job": "1"})
    add_pods(cluster.api, "a", ["q1", "q2"])
    add_pods(cluster.api, "b", ["p4"], {"taller.io/job": "4"})

    answers = pages(core, limit=2, label_selector="taller.io/job")

    assert names(answers) == [[("a", "p1"), ("a", "p2")], [("a", "p3"), ("b", "p4")]]
    # As on a real server, what a selector would leave is not counted.
    assert "remainingItemCount" not in answers[0]["metadata"]
    assert names(pages(core, limit=10, label_selector="!taller.io/job")) == [[("a", "q1"), ("a", "q2")]]
    assert names(pages(core, limit=10, field_selector="metadata.namespace=b")) == [[("b", "p4")]]


def test_a_continued_list_resumes_after_the_last_key_whatever_changed_meanwhile(cluster, core):
    add_pods(cluster.api, "a", ["p1", "p2", "p4", "p5"])
    first = json.loads(core.list_pod_for_all_namespaces(limit=2, _preload_content=False).data)
    cluster.api.objects["pods"].pop(("a", "p2"))  # the page's last key is gone
    cluster.api.objects["pods"].pop(("a", "p4"))
    add_pods(cluster.api, "a", ["p0", "p3"])  # one before the cursor, one after

    rest = json.loads(
        core.list_pod_for_all_namespaces(
            limit=2, _continue=first["metadata"]["continue"], _preload_content=False
        ).data
    )

    assert names([first, rest]) == [[("a", "p1"), ("a", "p2")], [("a", "p3"), ("a", "p5")]]
    assert rest["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]


def test_a_namespaced_list_stays_in_its_namespace(cluster, core):
    add_pods(cluster.api, "a", ["p1"])
    add_pods(cluster.api, "a-b", ["p2"])
    add_pods(cluster.api, "ab", ["p3"])

    items = core.list_namespaced_pod("a", _preload_content=False)

    assert [item["metadata"]["name"] for item in json.loads(items.data)["items"]] == ["p1"]


def send(api, method: str, path: str, manifest: dict) -> tuple[int, dict]:
    """A request as any client makes it (the `kubernetes` client checks types before sending)."""
    request = urllib.request.Request(
        api.url + path, json.dumps(manifest).encode(), {"Content-Type": "application/json"}, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_server_refuses_what_kubernetes_validate_refuses(cluster):
    """Every manifest received is checked by kubernetes-validate (strict): a wrong type or an
    unknown field is a 422 naming the field, and nothing is stored."""
    cluster.backend.submit(make_spec())
    path = f"/apis/batch/v1/namespaces/{NS}/jobs"
    wrong_type = cluster.backend.manifest(make_spec(98))
    wrong_type["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = "yes"
    unknown = cluster.backend.manifest(make_spec(99))
    unknown["spec"]["template"]["spec"]["hostPID_typo"] = True
    for manifest, field, message in (
        (wrong_type, "spec.template.spec.containers[0].securityContext.privileged", "'yes' is not of type"),
        (unknown, "spec.template.spec", "('hostPID_typo' was unexpected)"),
    ):
        with pytest.raises(kubernetes_validate.ValidationError):
            assert_valid(manifest)

        code, body = send(cluster.api, "POST", path, manifest)

        assert code == 422
        assert body["reason"] == "Invalid"
        assert body["message"].startswith(f'Job.batch "{manifest["metadata"]["name"]}" is invalid: {field}: ')
        assert message in body["message"]
    assert [job["metadata"]["name"] for job in cluster.api.items("jobs")] == ["taller-42"]

    # What kubernetes-validate accepts, the server creates.
    assert_valid(cluster.backend.manifest(make_spec(97)))
    assert send(cluster.api, "POST", path, cluster.backend.manifest(make_spec(97)))[0] == 201


def test_a_replaced_manifest_is_checked_too(cluster):
    cluster.backend.submit(make_spec())
    namespace = cluster.api.get("namespaces", "", NS)
    namespace["spec"]["finalizer"] = ["kubernetes"]  # a typo of finalizers

    code, body = send(cluster.api, "PUT", f"/api/v1/namespaces/{NS}", namespace)

    assert code == 422
    assert "('finalizer' was unexpected)" in body["message"]
    assert "finalizer" not in cluster.api.get("namespaces", "", NS)["spec"]
