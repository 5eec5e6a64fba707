"""What a job's environment gets of its source at dispatch: the project's git credential, for
the clone step alone, and for a job with DVC targets the project's DVC remote, its key pair for the
pull step alone (the Kubernetes init containers through the job's Secret; the local runner, which
drops them before the job's command starts)."""

from . import checkout, pull
from .check import project_credential
from .remotes import project_remote


def source_environment(job) -> tuple[dict[str, str], set[str]]:
    """The credentials' variables for a job with a git source (none without), and which are secret."""
    source = job.source or {}
    if not source.get("git"):
        return {}, set()
    credential = project_credential(job.project)
    env = credential.env() if credential else {}
    secret = {name for name in checkout.SECRET_NAMES if name in env}
    if pull.targets(source):
        remote = project_remote(job.project)
        env |= remote.env() if remote else {}
        secret |= {name for name in pull.CREDENTIAL_NAMES if name in env}
    return env, secret
