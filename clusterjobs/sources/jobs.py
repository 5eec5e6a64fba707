"""What a job's environment gets of its source at dispatch: the project's git credential, for
the clone step alone (the Kubernetes init container through the job's Secret; the local runner,
which drops it before the job's command starts)."""

from . import checkout
from .check import project_credential


def source_environment(job) -> tuple[dict[str, str], set[str]]:
    """The credential's variables for a job with a git source (none without), and which are secret."""
    if not (job.source or {}).get("git"):
        return {}, set()
    credential = project_credential(job.project)
    env = credential.env() if credential else {}
    return env, {name for name in checkout.SECRET_NAMES if name in env}
