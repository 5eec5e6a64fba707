"""Admission: refusals at submission, FIFO within a project, fairness across projects, caps,
budgets and the cluster's capacity, and the trigger-kept holdings."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Sum
from django.utils import timezone, translation

from clusterjobs.models import Job, JobStatus, JobTransition
from clusterjobs.reasons import translate_reason
from portal.projects.models import Membership
from portal.quotas import admission
from portal.quotas.models import Holding, MemberCap, Quota
from tests.factories import ProjectFactory, UserFactory

from .conftest import make_job, set_quota

# Use backdated by hours counts in the current budget period (see mid_period).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mid_period")]


def statuses(jobs) -> list[str]:
    return [Job.objects.get(pk=job.pk).status for job in jobs]


def check(quota, **resources):
    spec = {"cpu": Decimal(1), "memory_mib": 1024, "gpus": 0, "time_limit_minutes": 60, **resources}
    with transaction.atomic():
        admission.check_submission(quota, **spec)


def test_never_fitting_jobs_are_rejected_per_field(personas):
    quota = set_quota(
        personas.project, max_gpus=2, max_cpu=Decimal(8), max_memory_mib=4096, max_time_limit_minutes=120
    )
    with pytest.raises(ValidationError) as error:
        check(quota, gpus=3, cpu=Decimal(9), memory_mib=5000, time_limit_minutes=121)
    assert set(error.value.message_dict) == {"gpus", "cpu", "memory_mib", "time_limit_minutes"}
    assert "at most 2 GPUs" in error.value.message_dict["gpus"][0]
    check(quota, gpus=2, cpu=Decimal(8), memory_mib=4096, time_limit_minutes=120)


def test_budget_counts_running_up_to_now_and_waiting_jobs_at_their_time_limit(personas):
    project, bob = personas.project, personas.bob
    quota = set_quota(
        project, max_gpus=8, gpu_hours_per_period=Decimal(10), cpu_hours_per_period=Decimal(1000)
    )
    now = timezone.now()
    # 2 GPUs running for the last hour: 2 GPU-hours used so far.
    make_job(project, bob, status=JobStatus.RUNNING, gpus=2, started_at=now - timedelta(hours=1))
    # Admitted, not started: 1 GPU for 3 hours reserved.
    make_job(project, bob, status=JobStatus.DISPATCHING, gpus=1, time_limit_minutes=180)
    budget = admission.budget_of(quota, now)
    assert budget.gpu_hours_used == Decimal("2.00")
    assert budget.gpu_hours_reserved == Decimal("3.00")
    assert budget.gpu_hours_remaining == Decimal("5.00")
    check(quota, gpus=5, time_limit_minutes=60)  # exactly what is left
    with pytest.raises(ValidationError) as error:
        check(quota, gpus=3, time_limit_minutes=120)  # 6 GPU-hours
    message = error.value.message_dict["gpus"][0]
    assert "6.00 GPU-hours" in message and "5.00" in message
    check(quota, gpus=0, time_limit_minutes=600)  # costs no GPU-hours


def test_exhausted_budget_rejects(personas):
    project = personas.project
    quota = set_quota(project, gpu_hours_per_period=Decimal(1))
    make_job(
        project,
        personas.bob,
        status=JobStatus.SUCCEEDED,
        gpus=1,
        started_at=timezone.now() - timedelta(hours=2),
        finished_at=timezone.now() - timedelta(minutes=30),
    )
    with pytest.raises(ValidationError, match="used up"):
        check(quota, gpus=1, time_limit_minutes=1)


def test_fifo_within_a_project_and_waiting_reason(personas):
    project, bob = personas.project, personas.bob
    set_quota(project, max_gpus=4, max_running_jobs=10)
    t0 = timezone.now()
    jobs = [
        make_job(project, bob, gpus=g, created_at=t0 + timedelta(seconds=i)) for i, g in enumerate([2, 3, 1])
    ]
    admitted = admission.admit()
    # The 3-GPU job does not fit beside the first; the 1-GPU job behind it does not overtake it.
    assert admitted == [jobs[0].pk]
    assert statuses(jobs) == ["dispatching", "queued", "queued"]
    assert Job.objects.get(pk=jobs[1].pk).status_reason == admission.WAITING_FOR_QUOTA
    Job.objects.filter(pk=jobs[0].pk).update(status=JobStatus.SUCCEEDED)
    assert admission.admit_all() == [jobs[1].pk, jobs[2].pk]


def test_fair_across_projects_when_the_cluster_is_full(personas, settings):
    settings.TALLER_CLUSTER_GPUS = 4
    user = personas.bob
    big, small = ProjectFactory(slug="big"), ProjectFactory(slug="small")
    for project in (big, small):
        set_quota(project, max_gpus=4, max_running_jobs=10)
    t0 = timezone.now()
    # "big" already holds 2 of its 4 GPUs; "small" holds nothing. Both queue 1-GPU jobs, big first.
    make_job(big, user, status=JobStatus.RUNNING, gpus=2, started_at=t0)
    big_jobs = [make_job(big, user, gpus=1, created_at=t0 + timedelta(seconds=i)) for i in range(3)]
    small_jobs = [make_job(small, user, gpus=1, created_at=t0 + timedelta(seconds=10 + i)) for i in range(3)]
    admitted = admission.admit_all()
    # 2 GPUs free: small (share 0) goes first, then small again (1/4 < 2/4).
    assert admitted == [small_jobs[0].pk, small_jobs[1].pk]
    assert statuses(big_jobs) == ["queued"] * 3
    assert Job.objects.get(pk=big_jobs[0].pk).status_reason == admission.WAITING_FOR_CLUSTER
    # The running big job ends: 2 GPUs free. Shares: big 0/4, small 2/4: big goes twice.
    Job.objects.filter(project=big, status=JobStatus.RUNNING).update(status=JobStatus.SUCCEEDED)
    assert admission.admit_all() == [big_jobs[0].pk, big_jobs[1].pk]


def test_smallest_share_counts_each_part_of_the_quota(personas):
    user = personas.bob
    a, b = ProjectFactory(slug="a"), ProjectFactory(slug="b")
    set_quota(a, max_gpus=8, max_cpu=Decimal(8), max_running_jobs=10)
    set_quota(b, max_gpus=8, max_cpu=Decimal(100), max_running_jobs=10)
    make_job(a, user, status=JobStatus.RUNNING, cpu="4", started_at=timezone.now())  # a: 50 % of its CPU
    make_job(b, user, status=JobStatus.RUNNING, gpus=2, cpu="1", started_at=timezone.now())  # b: 25 % of GPUs
    t0 = timezone.now()
    job_a = make_job(a, user, cpu="1", created_at=t0)
    job_b = make_job(b, user, cpu="1", created_at=t0 + timedelta(seconds=1))
    assert admission.admit_all() == [job_b.pk, job_a.pk]


def test_member_caps(personas):
    project, alice, bob = personas.project, personas.alice, personas.bob
    set_quota(project, max_gpus=8, max_running_jobs=10)
    MemberCap.objects.create(
        membership=Membership.objects.get(project=project, user=bob), max_gpus=2, max_running_jobs=5
    )
    quota = Quota.objects.get(project=project)
    with pytest.raises(ValidationError, match="Your cap"):
        with transaction.atomic():
            admission.check_submission(
                quota, cpu=Decimal(1), memory_mib=1, gpus=3, time_limit_minutes=1, submitter=bob
            )
    t0 = timezone.now()
    bob_jobs = [make_job(project, bob, gpus=1, created_at=t0 + timedelta(seconds=i)) for i in range(3)]
    alice_job = make_job(project, alice, gpus=1, created_at=t0 + timedelta(seconds=5))
    # Bob's third job waits for his cap; Alice's later job is not held behind it.
    assert admission.admit_all() == [bob_jobs[0].pk, bob_jobs[1].pk, alice_job.pk]
    assert Job.objects.get(pk=bob_jobs[2].pk).status_reason == admission.WAITING_FOR_MEMBER_CAP


def test_lowering_a_quota_below_use_keeps_running_jobs_and_new_ones_wait(personas):
    project, bob = personas.project, personas.bob
    set_quota(project, max_gpus=4)
    running = make_job(project, bob, status=JobStatus.RUNNING, gpus=4, started_at=timezone.now())
    set_quota(project, max_gpus=2)
    waiting = make_job(project, bob, gpus=1)
    assert admission.admit_all() == []
    assert statuses([running, waiting]) == ["running", "queued"]


def test_preview(personas):
    project, bob = personas.project, personas.bob
    quota = set_quota(project, max_gpus=2, gpu_hours_per_period=Decimal(10))
    starts = admission.preview(
        quota, cpu=Decimal(1), memory_mib=512, gpus=1, time_limit_minutes=90, submitter=bob
    )
    assert starts["outcome"] == "starts" and starts["gpu_hours"] == Decimal("1.50")
    make_job(project, bob, status=JobStatus.RUNNING, gpus=2, started_at=timezone.now())
    assert (
        admission.preview(quota, cpu=Decimal(1), memory_mib=512, gpus=1, time_limit_minutes=90)["outcome"]
        == "waits"
    )
    rejected = admission.preview(quota, cpu=Decimal(1), memory_mib=512, gpus=3, time_limit_minutes=90)
    assert rejected["outcome"] == "rejected" and "gpus" in rejected["errors"]


def test_holdings_rows_match_the_jobs(personas):
    """The trigger keeps quotas_holding equal to the sums of the jobs through every kind of write."""
    project, bob = personas.project, personas.bob
    other = ProjectFactory(slug="other")
    jobs = [make_job(project, bob, gpus=i % 3, cpu=str(i % 4 + 0.5)) for i in range(12)]
    Job.objects.filter(pk__in=[j.pk for j in jobs[:6]]).update(status=JobStatus.RUNNING)
    Job.objects.filter(pk__in=[j.pk for j in jobs[:2]]).update(status=JobStatus.SUCCEEDED)
    Job.objects.filter(pk=jobs[3].pk).update(gpus=7, cpu=Decimal("3.25"))
    Job.objects.filter(pk=jobs[4].pk).update(project=other)
    Job.objects.filter(pk=jobs[5].pk).delete()
    Job.objects.filter(pk=jobs[6].pk).update(status=JobStatus.CANCELLED)
    for p in (project, other):
        active = (
            Job.objects.filter(project=p)
            .active()
            .aggregate(n=Count("pk"), g=Sum("gpus"), c=Sum("cpu"), m=Sum("memory_mib"))
        )
        expected = {
            "jobs": active["n"],
            "gpus": active["g"] or 0,
            "cpu": active["c"] or 0,
            "memory_mib": active["m"] or 0,
        }
        assert admission.holdings([p.pk])[p.pk] == admission.Resources(**expected)
        if connection.vendor == "postgresql":  # where the trigger keeps the rows
            row = Holding.objects.get(project=p)
            assert row.queued_jobs == Job.objects.filter(project=p, status=JobStatus.QUEUED).count()
            assert {
                "jobs": row.jobs,
                "gpus": row.gpus,
                "cpu": row.cpu,
                "memory_mib": row.memory_mib,
            } == expected
    assert admission.cluster_in_use().gpus == Job.objects.active().aggregate(g=Sum("gpus"))["g"]


def test_unused_users_see_no_error_with_many_projects(personas):
    # A project without queued jobs costs admission nothing; one with queued jobs but no room
    # keeps its jobs queued.
    set_quota(personas.project, max_running_jobs=0)
    job = make_job(personas.project, UserFactory())
    assert admission.admit_all() == []
    assert Job.objects.get(pk=job.pk).status_reason == admission.WAITING_FOR_QUOTA


def test_admission_stores_its_reasons_in_english_and_pages_translate_them(personas):
    set_quota(personas.project, max_running_jobs=1)
    t0 = timezone.now()
    first, second = (
        make_job(personas.project, personas.bob, created_at=t0 + timedelta(seconds=i)) for i in range(2)
    )
    with translation.override("es"):
        assert admission.admit_all() == [first.pk]
    admitted = JobTransition.objects.get(job=first, to_status=JobStatus.DISPATCHING).reason
    assert admitted == Job.objects.get(pk=first.pk).status_reason == "admitted within the project's quota"
    assert Job.objects.get(pk=second.pk).status_reason == "waiting for quota"
    with translation.override("es"):
        assert translate_reason(admitted) not in ("", admitted)
        assert translate_reason("waiting for quota") != "waiting for quota"
