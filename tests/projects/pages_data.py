"""Many rows fast (bulk inserts): a researcher with N projects, each with its quota, and N jobs
of every status, for the query-count checks of the dashboard and the project page (tests and
``make bench`` share it)."""

from datetime import timedelta

from django.utils import timezone

from clusterjobs.models import Job, JobStatus
from portal.accounts.models import User
from portal.projects.models import Membership, Project, Role
from portal.quotas.models import Period, Quota

STATUSES = list(JobStatus)
PERIODS = list(Period)


def researcher_with_rows(username: str, count: int) -> tuple[User, Project]:
    """``count`` projects (every kind of budget period among them), ``count`` members in the first
    one and ``count`` jobs of every status in it, half of them with an MLflow run."""
    user = User.objects.create_user(username=username, email=f"{username}@example.org")
    projects = Project.objects.bulk_create(
        Project(
            slug=f"{username}-{i}",
            name=f"{username} {i:04d}",
            principal_investigator="Ada Lovelace",
            requested_by=user,
            status=Project.Status.ACTIVE,
        )
        for i in range(count)
    )
    Quota.objects.bulk_create(
        Quota(project=project, **{**Quota.defaults(), "period": PERIODS[i % len(PERIODS)]})
        for i, project in enumerate(projects)
    )
    Membership.objects.bulk_create(Membership(project=p, user=user, role=Role.OWNER) for p in projects)
    first = projects[0]
    others = User.objects.bulk_create(
        User(username=f"{username}-m{i}", email=f"{username}-m{i}@example.org") for i in range(count)
    )
    Membership.objects.bulk_create(Membership(project=first, user=u, role=Role.MEMBER) for u in others)
    now = timezone.now()
    Job.objects.bulk_create(
        Job(
            project=first,
            submitter=user,
            name=f"job {i}",
            image="python:3.11-slim",
            command=["python", "-m", "examples.train"],
            status=STATUSES[i % len(STATUSES)],
            created_at=now - timedelta(minutes=i),
            started_at=now - timedelta(minutes=i) if i % 2 else None,
            mlflow_run_id=f"{i:032x}" if i % 2 else "",
            mlflow_experiment_id="1" if i % 2 else "",
        )
        for i in range(count)
    )
    return user, first
