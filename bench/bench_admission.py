"""Admission for one submission (check against quota, caps and budget; create; admit across all
projects) with 100 and with 10,000 running and queued jobs in the database: the cost should not
grow with the number of jobs (ratio 10,000 / 100, target at most 1.5).

Runs on its own PostgreSQL database (taller_bench_quotas, recreated each run) beside the one
DATABASE_URL names, so no data of the portal or of the tests is touched.
"""

import statistics
import time
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.management import call_command
from django.db import connections, transaction
from django.utils import timezone

DB_NAME = "taller_bench_quotas"
PROJECTS = 50
REPEATS = 40
TARGET = 1.5


@contextmanager
def bench_database():
    """Point the default connection at a fresh bench database for the duration."""
    import psycopg

    default = connections["default"]
    original = dict(default.settings_dict)
    params = {
        "host": original.get("HOST") or "127.0.0.1",
        "port": original.get("PORT") or 5432,
        "user": original.get("USER") or "postgres",
        "password": original.get("PASSWORD") or None,
    }
    if original["ENGINE"] != "django.db.backends.postgresql":
        params = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "password": None}
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    default.close()
    bench_settings = {
        **original,
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DB_NAME,
        "HOST": params["host"],
        "PORT": params["port"],
        "USER": params["user"],
        "PASSWORD": params["password"] or "",
    }
    default.settings_dict.clear()
    default.settings_dict.update(bench_settings)
    settings.DATABASES["default"] = default.settings_dict
    try:
        call_command("migrate", verbosity=0, interactive=False)
        yield
    finally:
        default.close()
        default.settings_dict.clear()
        default.settings_dict.update(original)
        settings.DATABASES["default"] = default.settings_dict
        with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def populate(total_jobs: int):
    """50 projects, each with a running job holding all its GPUs and its share of the other jobs:
    alternately running (CPU only) and queued for a GPU (waiting for quota). So the same projects
    wait in both sizes; only the number of jobs grows. The first project has room for the
    submitted job and no queued job."""
    from clusterjobs.models import Job, JobStatus
    from portal.accounts.models import User
    from portal.projects.models import Membership, Project, Role
    from portal.quotas.actions import ensure_quota
    from portal.quotas.models import Quota

    Job.objects.all().delete()
    Project.objects.all().delete()
    user, _ = User.objects.get_or_create(username="bench")
    projects = Project.objects.bulk_create(
        [
            Project(
                slug=f"bench-{i}",
                name=f"Bench {i}",
                principal_investigator="B",
                requested_by=user,
                status="active",
            )
            for i in range(PROJECTS)
        ]
    )
    for project in projects:
        ensure_quota(project)
    Membership.objects.bulk_create([Membership(project=p, user=user, role=Role.OWNER) for p in projects])
    Quota.objects.update(
        max_gpus=4,
        max_cpu=Decimal(10000),
        max_memory_mib=10**9,
        max_running_jobs=100000,
        max_time_limit_minutes=10000,
        gpu_hours_per_period=Decimal(10**7),
        cpu_hours_per_period=Decimal(10**8),
    )
    now = timezone.now()
    spec = {
        "submitter": user,
        "name": "bench",
        "image": "python:3.11",
        "command": ["true"],
        "memory_mib": 512,
    }
    jobs = []
    for i, project in enumerate(projects):
        gpus = 2 if i == 0 else 4  # the first project keeps room for the submission
        jobs.append(
            Job(
                project=project,
                status=JobStatus.RUNNING,
                gpus=gpus,
                started_at=now - timedelta(hours=1),
                **spec,
            )
        )
    per_project = total_jobs // PROJECTS - 1
    for i, project in enumerate(projects):
        for n in range(per_project):
            if n % 2 == 0 and i != 0:
                jobs.append(
                    Job(
                        project=project,
                        status=JobStatus.QUEUED,
                        gpus=1,
                        created_at=now - timedelta(seconds=n),
                        **spec,
                    )
                )
            else:
                started = now - timedelta(minutes=n % 600)
                jobs.append(
                    Job(project=project, status=JobStatus.RUNNING, gpus=0, started_at=started, **spec)
                )
    Job.objects.bulk_create(jobs, batch_size=2000)
    with connections["default"].cursor() as cursor:
        cursor.execute("ANALYZE")
    return projects[0], user


def decide_once(project, user) -> float:
    from clusterjobs.models import Job, JobStatus
    from portal.quotas import admission
    from portal.quotas.models import Quota

    started = time.perf_counter()
    with transaction.atomic():
        quota = Quota.objects.get(project=project)
        admission.check_submission(
            quota, cpu=Decimal(1), memory_mib=512, gpus=1, time_limit_minutes=60, submitter=user
        )
        job = Job.objects.create(
            project=project,
            submitter=user,
            name="submitted",
            image="python:3.11",
            command=["true"],
            gpus=1,
            memory_mib=512,
        )
    admitted = admission.admit_all()
    elapsed = time.perf_counter() - started
    if admitted != [job.pk]:
        raise RuntimeError(f"expected the submitted job {job.pk} to be admitted, got {admitted}")
    Job.objects.filter(pk=job.pk).delete()
    assert not Job.objects.filter(status=JobStatus.DISPATCHING).exists()
    return elapsed


def measure(total_jobs: int) -> float:
    project, user = populate(total_jobs)
    for _ in range(5):
        decide_once(project, user)
    return statistics.median(decide_once(project, user) for _ in range(REPEATS))


def run() -> list[dict]:
    with bench_database():
        small = measure(100)
        large = measure(10_000)
    ratio = large / small
    return [
        {
            "name": "admission of one submission, 10,000 vs 100 jobs (median ms)",
            "baseline": f"{small * 1000:.2f}",
            "ours": f"{large * 1000:.2f}",
            "ratio": ratio,
            "target": f"<= {TARGET}",
            "pass": ratio <= TARGET,
        }
    ]
