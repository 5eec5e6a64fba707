"""What deployments use over time counts in the period's usage figures (project, members, all
projects, the daily plot, the API, the budgets), as jobs' runs do: replicas × resources × the
hours they were live, split where they were scaled, ended where they stopped."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clusterjobs.models import JobStatus
from deployments import actions
from deployments.models import Deployment, DeploymentStatus, DeploymentUse
from portal.quotas import usage
from portal.quotas.admission import budget_of
from portal.quotas.models import ensure_quota
from tests.clusterjobs.factories import JobFactory
from tests.monitoring.conftest import scrape  # noqa: F401 - the fixture
from tests.monitoring.test_values import value

# Use backdated by hours counts in the current budget period (see mid_period).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mid_period")]


def backdate(deployment: Deployment, hours: float) -> None:
    """Its open stretch of use began ``hours`` ago."""
    DeploymentUse.objects.filter(deployment=deployment, finished_at__isnull=True).update(
        started_at=timezone.now() - timedelta(hours=hours)
    )


def live(personas, name="digits", **fields) -> Deployment:
    values = {"replicas": 2, "cpu": Decimal("2"), "memory_mib": 2048, "gpus": 1, **fields}
    return Deployment.objects.create(
        project=personas.project,
        name=name,
        model_name="genomics.digits",
        version="1",
        status=DeploymentStatus.RUNNING,
        backend="local",
        created_by=personas.bob,
        **values,
    )


def window():
    now = timezone.now()
    return usage.Window(now - timedelta(days=1), now + timedelta(days=1), "test")


def test_a_live_deployment_counts_replicas_times_resources_times_hours(personas):
    ensure_quota(personas.project)
    deployment = live(personas)
    (use,) = DeploymentUse.objects.filter(deployment=deployment)
    assert (use.gpus, use.cpu, use.memory_mib, use.finished_at) == (2, Decimal("4"), 4096, None)
    backdate(deployment, 2)

    total = usage.project_usage(personas.project.pk, window())
    assert total.gpu_hours == Decimal("4.00")  # 2 replicas × 1 GPU × 2 h
    assert total.cpu_hours == Decimal("8.00")
    assert total.memory_gib_hours == Decimal("8.00")
    assert total.jobs == 0
    assert usage.projects_usage([personas.project.pk], window())[personas.project.pk].gpu_hours == Decimal(
        "4.00"
    )
    (member,) = usage.member_usage(personas.project.pk, window())
    assert member["username"] == "bob" and member["usage"].gpu_hours == Decimal("4.00")
    assert round(sum(usage.daily_series(personas.project.pk, window())["gpu_hours"]), 2) == 4.0
    assert budget_of(personas.project.quota).gpu_hours_used >= Decimal("4.00")


def test_scaling_splits_the_stretch_and_stopping_ends_it(personas):
    ensure_quota(personas.project)
    deployment = live(personas, gpus=0, cpu=Decimal("1"), memory_mib=1024, replicas=1)
    backdate(deployment, 3)
    actions.scale(personas.bob, deployment, replicas=3)
    uses = list(DeploymentUse.objects.filter(deployment=deployment).order_by("started_at"))
    assert [(u.cpu, u.finished_at is None) for u in uses] == [(Decimal("1"), False), (Decimal("3"), True)]
    backdate(deployment, 1)
    actions.stop(personas.bob, Deployment.objects.get(pk=deployment.pk))
    assert not DeploymentUse.objects.filter(deployment=deployment, finished_at__isnull=True).exists()
    # 3 h at 1 core until the scale, then 1 h (as backdated) at 3 cores.
    cpu = usage.project_usage(personas.project.pk, window()).cpu_hours
    assert cpu == Decimal("6.00"), cpu
    later = usage.project_usage(personas.project.pk, window(), now=timezone.now() + timedelta(hours=5))
    assert later.cpu_hours == cpu  # a stopped deployment uses nothing more


def test_a_conditional_update_that_ends_it_ends_its_use(personas):
    """The serving loop's and the cluster's updates (a failed rollout) go through the queryset."""
    deployment = live(personas)
    Deployment.objects.filter(pk=deployment.pk, status=DeploymentStatus.RUNNING).update(
        status=DeploymentStatus.FAILED
    )
    assert not DeploymentUse.objects.filter(deployment=deployment, finished_at__isnull=True).exists()
    Deployment.objects.filter(pk=deployment.pk).update(status_reason="unchanged")  # nothing held moves
    assert DeploymentUse.objects.filter(deployment=deployment).count() == 1


def test_jobs_and_deployments_add_up_in_the_usage_api(personas, api):
    ensure_quota(personas.project)
    now = timezone.now()
    JobFactory(
        project=personas.project,
        submitter=personas.alice,
        status=JobStatus.SUCCEEDED,
        gpus=1,
        cpu=1,
        memory_mib=1024,
        started_at=now - timedelta(hours=1),
        finished_at=now,
    )
    backdate(live(personas), 2)
    answer = api("alice").get(f"/api/v1/projects/{personas.project.slug}/usage/")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["total"]["gpu_hours"] == "5.00"  # 1 h of the job's GPU, 4 of the deployment's
    assert body["total"]["jobs"] == 1
    members = {m["username"]: m for m in body["members"]}
    assert members["bob"]["gpu_hours"] == "4.00" and members["alice"]["gpu_hours"] == "1.00"


def test_the_quota_page_runs_as_many_queries_with_one_or_many_deployments(personas):
    ensure_quota(personas.project)
    client = Client()
    client.force_login(personas.alice)
    url = f"/projects/{personas.project.slug}/quota/"
    live(personas, name="first")

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    few = count()
    for index in range(10):
        live(personas, name=f"more-{index}", gpus=0)
    assert count() == few


def test_metrics_count_deployment_hours_against_the_budget(personas, scrape):  # noqa: F811
    ensure_quota(personas.project)
    backdate(live(personas), 2)
    found = scrape()
    labels = {"project": "genomics", "period": personas.project.quota.period}
    gpu_seconds = value(found, "taller_project_gpu_used_seconds", **labels)
    assert 4 * 3600 <= gpu_seconds <= 4 * 3600 + 60  # 2 replicas × 1 GPU × 2 h
