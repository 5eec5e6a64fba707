"""What a provenance page, API call or reproduction starts from, found for a user: a job, a run or
a model version, each only in a project the user can see (404 otherwise, whether it exists or not).
Pages, the API and (through the API) the command line all come through here."""

from functools import partial

from django.http import Http404
from django.utils.translation import gettext as _

from experiments import gateway
from portal.projects.access import Need, check, get_project_for_user

from ..models import Job
from . import trail as trails


def visible_job(user, pk: int) -> Job:
    job = (
        Job.objects.visible_to(user)
        .select_related("project", "submitter", "reproduced_from")
        .filter(pk=pk)
        .first()
    )
    if job is None:
        raise Http404(_("No such job."))
    return job


def run_project(user, run_id: str):
    """The project of a run the user can see: the job that made it (no MLflow call), else the
    run's experiment (MLflow, cached). Raises Http404, or GatewayError when MLflow is down."""
    if not gateway.looks_like_id(run_id):
        raise Http404(_("No such run."))
    job = Job.objects.visible_to(user).filter(mlflow_run_id=run_id).select_related("project").first()
    if job is not None:
        return job.project
    try:
        slug, _experiment = gateway.run_project(run_id)
    except gateway.GatewayError as error:
        if error.status == 404:
            raise Http404(_("No such run.")) from error
        raise
    if not slug:
        raise Http404(_("No such run."))
    return get_project_for_user(user, slug)


def _not_found(call, *args):
    try:
        return call(*args)
    except gateway.GatewayError as error:
        if error.status == 404:
            raise Http404(str(error)) from error
        raise


def job_trail(user, pk: int, *, page: bool = False) -> trails.Trail:
    return trails.job_trail(visible_job(user, pk), page=page)


def run_trail(user, run_id: str, project=None, *, page: bool = False) -> trails.Trail:
    project = project or run_project(user, run_id)
    return _not_found(partial(trails.run_trail, page=page), project, run_id)


def version_trail(user, slug: str, name: str, version: str, *, page: bool = False) -> trails.Trail:
    """``name`` is the model's name in the project (without the ``<slug>.`` prefix) or its full
    name."""
    project = get_project_for_user(user, slug)
    short = name.removeprefix(f"{project.slug}{gateway.MODEL_SEPARATOR}")
    return _not_found(
        partial(trails.version_trail, page=page), project, gateway.model_name(project.slug, short), version
    )


def job_to_reproduce(user, trail: trails.Trail) -> Job:
    """The job behind a trail, if the user may submit in its project (403 for a viewer); a run or
    version that no job of the portal made cannot be reproduced (404)."""
    if trail.job is None:
        raise Http404(_("No job of the portal made this run, so there is nothing to reproduce."))
    check(
        user, trail.job.project, Need.CHANGE, _("Only members and owners of the project reproduce its jobs.")
    )
    return trail.job
