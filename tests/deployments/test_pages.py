"""A deployment's page: its traffic (charts and the table of the same data), its keys (made,
shown once, revoked), and its controls; and the same page in a real browser."""

from datetime import timedelta

import pytest
from django.utils import timezone

from deployments.models import Deployment, DeploymentKey, DeploymentStatus, TrafficMinute

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployment(personas) -> Deployment:
    deployment = Deployment.objects.create(
        project=personas.project,
        name="digits",
        model_name="genomics.digits",
        version="2",
        serving_version="2",
        previous_version="1",
        status=DeploymentStatus.RUNNING,
        backend="local",
        created_by=personas.bob,
    )
    minute = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=3)
    # 10 calls: 8 under 10 ms, 1 under 50 ms, 1 under 500 ms; 1 error.
    TrafficMinute.objects.create(
        deployment=deployment, minute=minute, requests=10, errors=1, l3=8, l5=1, l8=1
    )
    return deployment


def test_the_traffic_is_shown_as_a_table_beside_the_charts(
    personas, deployment, django_assert_max_num_queries
):
    client = personas.client("vera")
    with django_assert_max_num_queries(12):
        page = client.get("/projects/genomics/deployments/digits/").content.decode()
    assert 'id="calls-chart"' in page and 'id="latency-chart"' in page
    assert "10 calls, 1 errors." in page
    assert "at most 10.0 ms for half the calls, 500.0 ms for 95 %, 500.0 ms for 99 %" in page
    assert page.count("<tr><td>") >= 1 and "<td>10</td><td>1</td><td>10.0</td>" in page
    assert 'id="key-form"' not in page  # a viewer neither sees nor makes keys


def test_a_member_makes_a_key_sees_it_once_and_revokes_it(personas, deployment):
    client = personas.client("bob")
    answer = client.post("/projects/genomics/deployments/digits/keys/", {"name": "demo page"})
    assert answer.status_code == 302
    page = client.get("/projects/genomics/deployments/digits/").content.decode()
    key = DeploymentKey.objects.get()
    assert 'id="new-key"' in page and f"<code>{key.prefix}" in page
    assert "Authorization: Token &lt;key&gt;" in page  # shown, not read as a tag
    assert 'id="new-key"' not in client.get("/projects/genomics/deployments/digits/").content.decode()
    assert (
        personas.client("vera")
        .post(f"/projects/genomics/deployments/digits/keys/{key.pk}/revoke/")
        .status_code
        == 403
    )
    assert client.post(f"/projects/genomics/deployments/digits/keys/{key.pk}/revoke/").status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_the_version_page_offers_to_deploy_it(personas, registered):
    page = personas.client("bob").get("/projects/genomics/models/digits/versions/1/").content.decode()
    assert (
        'id="deploy-version"' in page
        and "/projects/genomics/deployments/new/?model=digits&amp;version=1" in page
    )
    page = personas.client("vera").get("/projects/genomics/models/digits/versions/1/").content.decode()
    assert 'id="deploy-version"' not in page


def test_the_form_deploys_and_says_what_is_wrong(personas, registered):
    client = personas.client("bob")
    form = client.get("/projects/genomics/deployments/new/?model=digits&version=1").content.decode()
    assert 'value="digits"' in form
    fields = {
        "name": "digits",
        "model": "digits",
        "version": "1",
        "replicas": 1,
        "cpu": "0.5",
        "memory_mib": 512,
        "gpus": 0,
    }
    refused = client.post("/projects/genomics/deployments/new/", {**fields, "version": "9"}).content.decode()
    assert "The model has no version 9." in refused
    answer = client.post("/projects/genomics/deployments/new/", fields)
    assert answer.status_code == 302 and answer["Location"] == "/projects/genomics/deployments/digits/"
    assert Deployment.objects.get().status == DeploymentStatus.STARTING
