from datetime import timedelta

import factory
from django.utils import timezone

from clusterjobs.models import Job, JobStatus, JobTransition
from tests.factories import ProjectFactory, UserFactory


class JobFactory(factory.django.DjangoModelFactory):
    """A job row as the actions leave it; for lists and permissions (no MLflow, no backend)."""

    class Meta:
        model = Job
        skip_postgeneration_save = True

    project = factory.SubFactory(ProjectFactory)
    submitter = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"job {n}")
    image = "python:3.11-slim"
    command = ["python", "-c", "print('hi')"]
    env = factory.LazyFunction(lambda: {"SEED": "1", "API_KEY": "hunter2"})
    secret_env_names = factory.LazyFunction(lambda: ["API_KEY"])
    status = JobStatus.QUEUED

    @factory.post_generation
    def transition(obj, create, extracted, **kwargs):
        if create:
            JobTransition.objects.create(job=obj, to_status=obj.status, reason="made by a test")


def claim_gone_stale(job_id: int) -> None:
    """A dead worker's claim on a job stays until it lapses (nothing renews it any more); then a
    redelivered or drained dispatch may take the job over."""
    lapsed = timezone.now() - timedelta(seconds=1)
    Job.objects.filter(pk=job_id).update(dispatch_claimed_until=lapsed)


def dispatched_job(project, submitter) -> Job:
    """A job admitted and created on the configured backend by the dispatch task's body."""
    from clusterjobs import dispatch

    job = JobFactory(project=project, submitter=submitter, status=JobStatus.DISPATCHING)
    assert dispatch.dispatch(job.pk) == "submitted"
    return Job.objects.get(pk=job.pk)


def dispatched(job_id: int) -> Job:
    """What a dispatch does before the backend, without one: the job moves to dispatching and its
    MLflow run is created by the real ``clusterjobs.runs`` (with the source tags, and what sweeps
    and pipelines add). Needs an MLflow server (the ``mlflow_uri`` fixture)."""
    from clusterjobs import runs
    from clusterjobs.lifecycle import move_job

    move_job(job_id, JobStatus.DISPATCHING, "admitted")
    assert runs.start_run(Job.objects.get(pk=job_id), timezone.now(), retried=False)
    return Job.objects.get(pk=job_id)
