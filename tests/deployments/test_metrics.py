"""/metrics: each deployment's calls, errors and latency histogram from its per-minute rows, and
its replicas, in two queries whatever the traffic."""

from datetime import timedelta

import pytest
from django.utils import timezone

from deployments.models import Deployment, DeploymentStatus, TrafficMinute
from tests.monitoring.conftest import scrape  # noqa: F401 - the fixture
from tests.monitoring.test_values import queries_of_a_scrape, value

pytestmark = pytest.mark.django_db


def test_traffic_and_replicas(personas, scrape):  # noqa: F811
    deployment = Deployment.objects.create(
        project=personas.project, name="digits", model_name="genomics.digits", version="1", replicas=2,
        status=DeploymentStatus.RUNNING, created_by=personas.bob,
    )  # fmt: skip
    before = queries_of_a_scrape(scrape)
    now = timezone.now().replace(second=0, microsecond=0)
    for minutes in range(30):
        TrafficMinute.objects.create(
            deployment=deployment, minute=now - timedelta(minutes=minutes), requests=3, errors=1, l2=2, l9=1
        )
    assert queries_of_a_scrape(scrape) == before
    found = scrape()
    labels = {"project": "genomics", "deployment": "digits"}
    assert value(found, "taller_deployment_requests_total", **labels) == 90
    assert value(found, "taller_deployment_errors_total", **labels) == 30
    assert value(found, "taller_deployment_latency_seconds_bucket", **labels, le="0.005") == 60
    assert value(found, "taller_deployment_latency_seconds_bucket", **labels, le="1.0") == 90
    assert value(found, "taller_deployment_latency_seconds_bucket", **labels, le="+Inf") == 90
    assert value(found, "taller_deployment_replicas", **labels, status="running") == 2
