from decimal import Decimal

import pytest
from django.utils import timezone

from clusterjobs.models import Job, JobStatus
from portal.quotas.models import Quota


def make_job(
    project, submitter, *, status=JobStatus.QUEUED, gpus=0, cpu="1", memory_mib=1024, **fields
) -> Job:
    """A job row as the jobs app leaves it (its state and times set directly, for accounting)."""
    return Job.objects.create(
        project=project,
        submitter=submitter,
        name=fields.pop("name", "train"),
        image="python:3.11",
        command=["python", "-c", "pass"],
        status=status,
        gpus=gpus,
        cpu=Decimal(cpu),
        memory_mib=memory_mib,
        created_at=fields.pop("created_at", timezone.now()),
        **fields,
    )


def set_quota(project, **values) -> Quota:
    Quota.objects.filter(project=project).update(**values)
    return Quota.objects.get(project=project)


@pytest.fixture
def job_factory():
    return make_job


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """The personas' passwords are never checked here: hash them cheaply."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
