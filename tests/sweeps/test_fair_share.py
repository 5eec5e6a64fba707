"""A sweep's trials share the cluster with other projects' jobs as ordinary jobs do: each trial is a
job in its project's queue, and admission (portal/quotas/admission) gives a freed place to the
project holding the smallest share of its quota, whoever queued first. Admission runs in this
process where the commits would run it; the order is read from the recorded transitions."""

from decimal import Decimal

import pytest
import requests
from django.utils import timezone

from clusterjobs import actions as job_actions
from clusterjobs import queue, runs
from clusterjobs.lifecycle import move_job
from clusterjobs.models import Job, JobStatus, JobTransition
from clusterjobs.validation import check_request
from portal.projects.models import Project, Role
from portal.quotas.actions import ensure_quota
from portal.quotas.models import Quota
from sweeps import runner
from tests.factories import MembershipFactory, ProjectFactory

from .test_runner import start

CLUSTER_CPU = 1  # two trials of 0.5 CPU: the cluster holds N = 2 jobs at once


def finish(job: Job, mlflow: str, value: float) -> None:
    """The admitted job is dispatched (its run created), logs ``value``, and succeeds."""
    assert runs.start_run(job, timezone.now(), retried=False)
    job.refresh_from_db()
    requests.post(
        f"{mlflow}/api/2.0/mlflow/runs/log-metric",
        json={"run_id": job.mlflow_run_id, "key": "loss", "value": value, "timestamp": 0, "step": 1},
        timeout=10,
    ).raise_for_status()
    for to in (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.SUCCEEDED):
        assert move_job(job.pk, to, "test")


def admitted_at(job_id: int) -> int:
    """The order of the job's admission among all recorded transitions (its transition's id)."""
    return JobTransition.objects.get(
        job_id=job_id, from_status=JobStatus.QUEUED, to_status=JobStatus.DISPATCHING
    ).pk


@pytest.mark.django_db
def test_a_sweep_does_not_starve_another_projects_job(personas, settings, mlflow_uri):
    settings.TALLER_CLUSTER_CPU = CLUSTER_CPU
    other = ProjectFactory(slug="proteomics", name="Proteomics", requested_by=personas.charlie)
    MembershipFactory(project=other, user=personas.charlie, role=Role.OWNER)
    ensure_quota(other)
    ensure_quota(personas.project)
    # Each project's own quota holds 4 such jobs: only the cluster is short.
    Quota.objects.filter(project__in=[personas.project, other]).update(
        max_running_jobs=4, max_cpu=Decimal(2), max_memory_mib=4096
    )
    personas.project = Project.objects.get(pk=personas.project.pk)
    sweep = start(personas, max_trials=4, max_parallel=4)

    def advance_and_admit():
        runner.advance(sweep.pk)
        queue.admit_and_dispatch()  # what the trial's commit runs

    for _ in range(3):
        advance_and_admit()
    first, second, third = sweep.trials.order_by("number").select_related("job")
    assert [Job.objects.get(pk=t.job_id).status for t in (first, second, third)] == [
        JobStatus.DISPATCHING,
        JobStatus.DISPATCHING,
        JobStatus.QUEUED,  # the cluster is full
    ]
    request = check_request(
        personas.charlie,
        other,
        name="align",
        image="python:3.11-slim",
        command=["python", "align.py"],
        cpu="0.5",
        memory_mib=256,
        time_limit_minutes=5,
    )
    job = job_actions.submit_job(personas.charlie, other, request)
    queue.admit_and_dispatch()
    assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED  # queued after the third trial

    # A trial ends: its place goes to the other project's job (it holds nothing), not to the
    # sweep's third trial, queued before it.
    finish(first.job, mlflow_uri, 0.3)
    queue.admit_and_dispatch()
    assert Job.objects.get(pk=job.pk).status == JobStatus.DISPATCHING
    assert Job.objects.get(pk=third.job_id).status == JobStatus.QUEUED
    runner.advance(sweep.pk)
    assert sweep.trials.count() == 3  # the third still waits: no fourth trial is asked

    # The next place to free is the sweep's again.
    finish(second.job, mlflow_uri, 0.2)
    advance_and_admit()
    assert Job.objects.get(pk=third.job_id).status == JobStatus.DISPATCHING
    assert third.job_id < job.pk and admitted_at(job.pk) < admitted_at(third.job_id)
