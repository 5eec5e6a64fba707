"""What a job's MLflow run records of its code when the portal creates it: MLflow's own source
tags (so MLflow's UI shows the commit and the repository too) and the image asked; the digest of the
image that ran is added when the backend reports it (``sync``: ``taller.image_digest``)."""

# MLflow's source tags (mlflow.utils.mlflow_tags); written here as plain names: only the gateway
# imports mlflow.
SOURCE_TYPE = "mlflow.source.type"
SOURCE_NAME = "mlflow.source.name"
GIT_COMMIT = "mlflow.source.git.commit"
GIT_REPO_URL = "mlflow.source.git.repoURL"
GIT_BRANCH = "mlflow.source.git.branch"
IMAGE = "taller.image"
SNAPSHOT = "taller.source.snapshot"


def run_tags(request) -> dict[str, str]:
    """The tags a job's run starts with for ``request`` (a ``JobRequest``)."""
    tags = {SOURCE_TYPE: "JOB", IMAGE: request.image}
    source = request.source or {}
    if source.get("git"):
        tags |= {
            SOURCE_NAME: source["git"],
            GIT_REPO_URL: source["git"],
            GIT_COMMIT: source["commit"],
            GIT_BRANCH: source.get("ref", ""),
        }
    if source.get("snapshot"):  # alone, or a checkout's uncommitted changes on top of the commit
        tags |= {SNAPSHOT: f"sha256:{source['snapshot']}"}
        tags.setdefault(SOURCE_NAME, f"sha256:{source['snapshot']}")
    return tags
