"""The door through which jobs ask to be admitted; the rules behind it belong to the quotas app.

Jobs know nothing of quotas: ``portal.quotas`` reads jobs (usage, holdings), moves queued jobs
to ``dispatching`` and mirrors its limits on the backend, so it depends on ``clusterjobs`` and
never the other way. What the jobs app needs of it (refuse a job that can never fit, admit what
fits now, the limits a project's namespace enforces) it asks here, and ``QuotasConfig.ready``
installs the quota policy (``portal.quotas.admission.QuotaPolicy``).
"""

from typing import Protocol

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_noop

from .backends import ProjectLimits

# Stored in English, as the API shows them; pages translate them (reasons.py).
WAITING_FOR_QUOTA = gettext_noop("waiting for quota")
WAITING_FOR_MEMBER_CAP = gettext_noop("waiting for the member's cap")
WAITING_FOR_CLUSTER = gettext_noop("waiting for free cluster capacity")
ADMITTED = gettext_noop("admitted within the project's quota")


class Policy(Protocol):
    def check_submission(
        self, project, *, cpu, memory_mib: int, gpus: int, time_limit_minutes: int, submitter=None, lock=True
    ) -> None:
        """Raise a ValidationError, per field, for a job that no amount of waiting would let run."""

    def admit(self) -> list[int]:
        """Move the queued jobs that fit now to ``dispatching``; their ids, to dispatch after commit."""

    def project_limits(self, project) -> ProjectLimits:
        """What the project may hold at once, as the backend enforces it again."""


_policy: Policy | None = None


def install(policy: Policy) -> None:
    global _policy
    _policy = policy


def _installed() -> Policy:
    if _policy is None:
        raise ImproperlyConfigured(
            "No admission policy is installed: portal.quotas must be in INSTALLED_APPS."
        )
    return _policy


def check_submission(project, **job) -> None:
    _installed().check_submission(project, **job)


def admit() -> list[int]:
    return _installed().admit()


def project_limits(project) -> ProjectLimits:
    return _installed().project_limits(project)
