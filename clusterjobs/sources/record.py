"""What a job's MLflow run records of its code and data when the portal creates it: MLflow's own
source tags (so MLflow's UI shows the commit and the repository too) and the image asked; the digest
of the image that ran is added when the backend reports it (``sync``: ``taller.image_digest``).

Each DVC input (``source["data"]``, read from the commit at submission) becomes an MLflow dataset
input of the run (``run_inputs``), shown by MLflow's UI under the run's datasets:

- name: the path in the repository (``data/train.csv``);
- digest: its DVC md5 (a folder's ends in ``.dir``);
- source: where the object is on the project's DVC remote (``s3://bucket/prefix/files/md5/ab/cd…``
  or the folder's path), typed as MLflow types such an address;
- profile (JSON): ``{"path", "md5", "size", "remote", "dvc_file", "target"}`` and ``nfiles`` for a
  folder;
- input tags: ``mlflow.data.context`` = ``dvc``, and ``taller.dvc.remote``/``taller.dvc.path``.
"""

from .data import remote_path

# MLflow's source tags (mlflow.utils.mlflow_tags); written here as plain names: only the gateway
# imports mlflow.
SOURCE_TYPE = "mlflow.source.type"
SOURCE_NAME = "mlflow.source.name"
GIT_COMMIT = "mlflow.source.git.commit"
GIT_REPO_URL = "mlflow.source.git.repoURL"
GIT_BRANCH = "mlflow.source.git.branch"
IMAGE = "taller.image"
SNAPSHOT = "taller.source.snapshot"
DVC_CONTEXT = "dvc"


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


def run_inputs(job) -> list[dict]:
    """The dataset inputs of a job's run: one per DVC output its commit pins ([] without DVC
    targets; no query then). The remote is the project's at dispatch, which the pull reads."""
    pins = (job.source or {}).get("data") or []
    if not pins:
        return []
    from .remotes import project_remote

    remote = project_remote(job.project)
    address = remote.address() if remote else ""
    inputs = []
    for pin in pins:
        where = remote_path(address, pin) if address else ""
        profile = {
            "path": pin["path"],
            "md5": pin["md5"],
            "size": pin.get("size"),
            "remote": address,
            "dvc_file": pin.get("file", ""),
            "target": pin.get("target", ""),
        }
        if "nfiles" in pin:
            profile["nfiles"] = pin["nfiles"]
        inputs.append(
            {
                "name": pin["path"],
                "digest": pin["md5"],
                "source": where or pin["path"],
                "profile": profile,
                "context": DVC_CONTEXT,
                "tags": {"taller.dvc.remote": address, "taller.dvc.path": pin["path"]},
            }
        )
    return inputs
