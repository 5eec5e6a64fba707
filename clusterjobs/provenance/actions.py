"""Reproduce a job: submit a new one with the job's whole stored request (its source with the
commit or snapshot, data versions and whatever else the request holds, the command, environment and
resources), the image pinned by the digest the backend reported, through the same admission and
quota as any submission. The new job names its original (``reproduced_from``); their runs name
each other (``taller.reproduced_from`` when the new run is created, ``taller.reproduced_by`` on the
original's once it starts: ``tasks.mark_reproduced_by``)."""

import dataclasses

from django.db import transaction

from ..actions import submit_job
from ..models import Job
from ..request import JobRequest
from ..validation import recheck
from .trail import pinned_image


def reproduction_request(job: Job) -> JobRequest:
    """The request of ``job`` as stored, with its image pinned by digest where one is known."""
    request = JobRequest.from_model(job)
    return dataclasses.replace(request, image=pinned_image(job.image, job.image_digest))


def reproduce_job(user, job: Job) -> Job:
    """Submit the reproduction of ``job``. The caller has checked that ``user`` may change the
    job's project; the request is checked again (an archived project, today's limits, the quota:
    the same messages as a submission) and nothing is created when it is refused."""
    request = recheck(user, job.project, reproduction_request(job))
    with transaction.atomic():
        # Dispatch waits for this transaction's commit, so the dispatch sees reproduced_from.
        new = submit_job(user, job.project, request)
        Job.objects.filter(pk=new.pk).update(reproduced_from=job)
        new.reproduced_from = job
    return new


def run_additions(job: Job) -> tuple[dict[str, str], dict[str, str]] | None:
    """What a reproduction's run is created with (``clusterjobs.runs.add_to_runs``): the run it
    reproduces, or the job when that one had no run."""
    if not job.reproduced_from_id:
        return None
    original = Job.objects.filter(pk=job.reproduced_from_id).values_list("mlflow_run_id", flat=True).first()
    return {"taller.reproduced_from": original or f"job:{job.reproduced_from_id}"}, {}
