"""A model version's, a run's or a job's provenance: version → run → job → code (commit or
snapshot), image and digest, data versions, parameters, command, resources, GPU-hours, who
submitted it and when; and back, the model versions and reproductions that came from the job.

The job's part comes from the database; the run's (parameters, dataset inputs) from one run
fetch, the versions that came from it from one search of the registry, and a version's trail
fetches the version first. MLflow being down leaves the database's part with a message
(``mlflow_error``), except for a model version, which cannot be found without MLflow.

A page makes at most one MLflow call (``page=True``): the job's and the run's pages fetch the run
and leave the versions registered from it to a fragment (``run_versions``); the version's page
fetches the version alone and leaves its run to a fragment (the run's trail). The API and the
RO-Crate, which are downloads, assemble everything (``page=False``).
"""

from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from experiments import gateway

from ..models import Job
from ..sources.record import IMAGE, SNAPSHOT
from .forge import commit_url

# The tag a reproduction's run names its original's run with, and the one the original gets back.
REPRODUCED_FROM = "taller.reproduced_from"
REPRODUCED_BY = "taller.reproduced_by"
IMAGE_DIGEST = "taller.image_digest"
MAX_VERSIONS = 20
MAX_REPRODUCTIONS = 20


@dataclass
class Trail:
    """What one provenance page, API answer or RO-Crate shows."""

    project: object
    job: Job | None = None
    run: dict | None = None
    version: dict | None = None
    versions: list[dict] = field(default_factory=list)
    reproductions: list[Job] = field(default_factory=list)
    mlflow_error: str = ""

    @property
    def run_id(self) -> str:
        if self.run:
            return self.run["run_id"]
        if self.version:
            return self.version["run_id"]
        return self.job.mlflow_run_id if self.job else ""

    @property
    def tags(self) -> dict:
        return self.run["tags"] if self.run else {}

    def code(self) -> dict:
        """The code the job ran: its git repository and commit (with the forge's page of the
        commit, when the host is a known forge) or its snapshot's digest; the job's stored source
        first, the run's tags for a run that no job of the portal made."""
        source = dict(self.job.source) if self.job else {}
        tags = self.tags
        if not source and tags.get("mlflow.source.git.commit"):
            source = {
                "git": tags.get("mlflow.source.git.repoURL", ""),
                "commit": tags["mlflow.source.git.commit"],
            }
            source["ref"] = tags.get("mlflow.source.git.branch", "")
        if not source.get("snapshot") and tags.get(SNAPSHOT):
            source["snapshot"] = tags[SNAPSHOT].removeprefix("sha256:")
        if source.get("git"):
            source["commit_url"] = commit_url(source["git"], source.get("commit", ""))
        return source

    def image(self) -> dict:
        image = self.job.image if self.job else self.tags.get(IMAGE, "")
        digest = (self.job.image_digest if self.job else "") or self.tags.get(IMAGE_DIGEST, "")
        return {"image": image, "digest": digest, "pinned": pinned_image(image, digest)}

    def datasets(self) -> list[dict]:
        return list(self.run.get("datasets", [])) if self.run else []

    def params(self) -> dict:
        return dict(self.run["params"]) if self.run else {}

    def gpu_hours(self) -> float | None:
        ran = self.job.ran_for() if self.job else None
        return None if ran is None else round(ran.total_seconds() * self.job.gpus / 3600, 3)


def pinned_image(image: str, digest: str) -> str:
    """``image`` pinned by the digest the backend reported (``repo:tag@sha256:...``), so that a
    reproduction pulls the same bytes whatever the tag names today; ``image`` when no digest is
    known or it is pinned already."""
    found = _sha256(digest)
    if not image or not found or "@sha256:" in image:
        return image
    return f"{image}@{found}"


def _sha256(digest: str) -> str:
    """The ``sha256:<hex>`` of a digest as backends report it (``repo@sha256:...``,
    ``docker-pullable://repo@sha256:...`` or ``sha256:...``), or ''."""
    _before, sep, after = (digest or "").rpartition("sha256:")
    hexdigits = after.strip()
    if not sep or len(hexdigits) != 64 or any(c not in "0123456789abcdef" for c in hexdigits):
        return ""
    return f"sha256:{hexdigits}"


def _unavailable(error: gateway.GatewayError) -> str:
    return _("MLflow is unavailable, so the run's parameters, data and models are not shown: %(error)s") % {
        "error": error
    }


def _jobs(project) -> "object":
    return Job.objects.filter(project=project).select_related("project", "submitter", "reproduced_from")


def _with_run_and_versions(trail: Trail, *, versions: bool = True) -> Trail:
    """The run (one fetch) and, for a job or a run, the project's versions registered from it
    (one search); MLflow being down is said, not raised."""
    run_id = trail.run_id
    if trail.job is not None:
        trail.reproductions = list(
            trail.job.reproductions.select_related("submitter").order_by("-created_at")[:MAX_REPRODUCTIONS]
        )
    if not run_id:
        return trail
    try:
        if trail.run is None and trail.job is not None and run_id == trail.job.mlflow_run_id:
            trail.run = gateway.get_job_run(trail.project.slug, run_id, trail.job.pk)
        elif trail.run is None:
            trail.run = gateway.get_run(trail.project.slug, run_id)
        if versions:
            trail.versions = gateway.run_versions(trail.project.slug, run_id, max_results=MAX_VERSIONS)
    except gateway.GatewayError as error:
        if error.status == 404:
            trail.mlflow_error = _("The job's MLflow run was not found; it may have been deleted.")
        else:
            trail.mlflow_error = _unavailable(error)
    return trail


def job_trail(job: Job, *, page: bool = False) -> Trail:
    """The provenance of a job the caller has checked the user may see."""
    return _with_run_and_versions(Trail(project=job.project, job=job), versions=not page)


def run_versions(project, run_id: str) -> list[dict]:
    """The project's model versions registered from ``run_id``: one search, which leaves out
    every other project's models (so another project's run gives none). Raises GatewayError."""
    return gateway.run_versions(project.slug, run_id, max_results=MAX_VERSIONS)


def run_trail(project, run_id: str, *, page: bool = False) -> Trail:
    """The provenance of a run of ``project`` (the caller checked the user may see it). The job is
    found in the database; a run no job made is shown from its tags alone. Raises GatewayError
    404 for a run that is not the project's and has no job of it."""
    job = _jobs(project).filter(mlflow_run_id=run_id).first()
    trail = Trail(project=project, job=job)
    if job is None:
        # No job of the project names it: MLflow must say whether the run is the project's at all.
        trail.run = gateway.get_run(project.slug, run_id)
    return _with_run_and_versions(trail, versions=not page)


def version_trail(project, full_name: str, version: str, *, page: bool = False) -> Trail:
    """The provenance of a model version of ``project``. Raises GatewayError (404 for a model
    of another project; MLflow being down: the version cannot be found without it). For a page,
    the version alone (one call): its run is the run trail's fragment."""
    if page:
        data = gateway.get_model_version(project.slug, full_name, version)
    else:
        data = gateway.get_version(project.slug, full_name, version)
    job_tag = data["tags"].get(gateway.JOB_TAG, "")
    jobs = _jobs(project)
    job = None
    if job_tag.isdigit():
        job = jobs.filter(pk=int(job_tag)).first()
    if job is None and data["run_id"]:
        job = jobs.filter(mlflow_run_id=data["run_id"]).first()
    trail = Trail(project=project, job=job, version=data)
    if page:
        if job is not None:
            trail.reproductions = list(
                job.reproductions.select_related("submitter").order_by("-created_at")[:MAX_REPRODUCTIONS]
            )
        return trail
    return _with_run_and_versions(trail, versions=False)
