"""What a job's environment gets of its source at dispatch: the project's git credential, for
the clone step alone, and for a job with DVC targets the project's DVC remote, its key pair for the
pull step alone (the Kubernetes init containers through the job's Secret; the local runner, which
drops them before the job's command starts)."""

import logging
from pathlib import Path

from django.conf import settings

from . import checkout, pull
from .check import project_credential
from .remote import check_url
from .remotes import project_remote

log = logging.getLogger(__name__)


def source_environment(job) -> tuple[dict[str, str], set[str]]:
    """The clone step's variables for a job with a git source (none without): the credential's,
    which are secret, and the site's ssh known hosts; with DVC targets, the project's DVC remote
    and its key pair (secret). On the local executor, whose clone runs on the portal's machine,
    the address is checked again and pinned (or the refusal passed on)."""
    source = job.source or {}
    if not source.get("git"):
        return {}, set()
    credential = project_credential(job.project)
    env = credential.env() if credential else {}
    if settings.TALLER_EXECUTOR == "local":
        message, pin = check_url(source["git"])
        env |= {checkout.REFUSED: str(message)} if message else pin.env() if pin else {}
    if known := settings.TALLER_GIT_SSH_KNOWN_HOSTS:
        try:
            env[checkout.KNOWN_HOSTS] = Path(known).read_text()
        except OSError as error:  # ssh then refuses every host: the clone fails, naming it
            log.warning("could not read TALLER_GIT_SSH_KNOWN_HOSTS %s: %s", known, error)
            env[checkout.KNOWN_HOSTS] = "# unreadable: " + str(known)
    secret = {name for name in checkout.SECRET_NAMES if name in env}
    if pull.targets(source):
        remote = project_remote(job.project)
        env |= remote.env() if remote else {}
        secret |= {name for name in pull.CREDENTIAL_NAMES if name in env}
    return env, secret
