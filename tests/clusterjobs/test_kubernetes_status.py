"""backend.status(): one look at a job, mapped to the portal's phases with a readable reason."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from clusterjobs.backends.base import ProjectLimits

from .conftest import make_spec
from .k8s_cases import CASES, DIGEST, JOB, NS


@pytest.mark.parametrize(("name", "steps", "phase", "reason", "exit_code"), CASES, ids=[c[0] for c in CASES])
def test_status_maps_each_case(cluster, name, steps, phase, reason, exit_code):
    cluster.backend.submit(make_spec())
    for step in steps:
        step(cluster.api)

    status = cluster.backend.status(42, "genomics")

    assert (status.job_id, status.phase, status.reason, status.exit_code) == (42, phase, reason, exit_code)
    assert status.extra["namespace"] == NS and status.extra["name"] == JOB
    assert status.extra["uid"] == "uid-42"  # the annotation a retried dispatch recognises its Job by
    if name in ("running", "complete", "exit-code", "oom", "deadline"):
        assert status.started_at == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
        assert status.image_digest == DIGEST
    if phase in ("succeeded", "failed"):
        assert status.finished_at is not None


def test_status_of_a_fresh_job_is_pending(cluster):
    cluster.backend.submit(make_spec())

    status = cluster.backend.status(42, "genomics")

    assert (status.phase, status.reason, status.started_at, status.image_digest) == (
        "pending",
        "starting",
        None,
        "",
    )


def test_status_of_an_unknown_job_is_missing(cluster):
    assert cluster.backend.status(42, "genomics").phase == "missing"


def test_failed_create_event_is_the_reason_while_no_pod_exists(cluster):
    cluster.api.simulate_pods = False
    cluster.backend.ensure_project(ProjectLimits("genomics", 0, Decimal(1), 1024, 1, 60))
    cluster.backend.submit(make_spec())
    cluster.api.add_event(
        NS,
        JOB,
        "FailedCreate",
        'Error creating: pods "taller-42-x7k2p" is forbidden: exceeded quota: taller-quota, requested: '
        "limits.cpu=1500m,requests.cpu=1500m, used: limits.cpu=0,requests.cpu=0, limited: limits.cpu=1,requests.cpu=1",
    )

    status = cluster.backend.status(42, "genomics")

    assert status.phase == "pending"
    assert status.reason == (
        "the cluster did not create the pod: exceeded quota: taller-quota, requested: limits.cpu=1500m,"
        "requests.cpu=1500m, used: limits.cpu=0,requests.cpu=0, limited: limits.cpu=1,requests.cpu=1"
    )
