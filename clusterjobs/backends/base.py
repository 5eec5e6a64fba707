"""The interface every execution backend implements. Backends know nothing of Django models:
they take plain specs (a ``JobSpec`` around the ``JobRequest``) and return plain statuses, so they
are tested on their own."""

from abc import ABC, abstractmethod
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from threading import Event

from ..request import JobRequest  # a plain value: backends import nothing of the portal's models or checks


class BackendError(Exception):
    """A backend call failed. ``permanent`` says whether retrying can help
    (a refused manifest is permanent; a timeout or a 5xx is not)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class ProjectLimits:
    """What a project may hold at once on the backend (mirrors the portal's quota)."""

    project: str
    max_gpus: int
    max_cpu: Decimal
    max_memory_mib: int
    max_running_jobs: int
    max_time_limit_minutes: int


@dataclass(frozen=True, kw_only=True)
class JobSpec:
    """A job as a backend creates it: the request as asked (``request``: image, command, resources
    and whatever field a request gains, read by the backend's manifest), with what the portal adds:
    its ids, the complete environment, the time limit in seconds, the project's limits."""

    job_id: int
    project: str  # project slug
    uid: str  # unique per job, recorded on the backend object to recognise it on a retried dispatch
    request: JobRequest
    # The request's variables and the portal's (the MLflow run, the job's token, TALLER_JOB_ID).
    env: dict[str, str]
    time_limit_seconds: int = 3600
    backoff_limit: int = 0
    volumes: tuple[str, ...] = ()  # names of the project's PersistentVolumeClaims, mounted at /data/<name>
    # What the project holds on the backend: should the backend have to prepare the project again
    # while submitting (its namespace deleted behind the portal's back), it does so in full.
    limits: ProjectLimits | None = None
    # Names in ``env`` whose values are secret (the job's token, its secret variables): a backend
    # keeps them out of anything others may read (a Kubernetes Secret, never the Job spec).
    secret_names: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"taller-{self.job_id}"

    # The request's fields that every backend reads, by their short names.
    @property
    def image(self) -> str:
        return self.request.image

    @property
    def command(self) -> list[str]:
        return list(self.request.command)

    @property
    def cpu(self) -> Decimal:
        return self.request.cpu

    @property
    def memory_mib(self) -> int:
        return self.request.memory_mib

    @property
    def gpus(self) -> int:
        return self.request.gpus

    @property
    def gpu_type(self) -> str:
        return self.request.gpu_type


@dataclass
class BackendStatus:
    """What the backend says about one job.

    phase: "pending" (accepted, not running yet), "running", "succeeded", "failed", or
    "missing" (the backend has no such job). ``extra["uid"]``, when the backend reports it, is
    the uid recorded on the backend object: a retried dispatch only adopts an object with its uid.
    """

    job_id: int
    phase: str
    reason: str = ""
    exit_code: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    image_digest: str = ""
    extra: dict = field(default_factory=dict)


class Backend(ABC):
    name: str

    @abstractmethod
    def submit(self, spec: JobSpec) -> None:
        """Start the job. Idempotent: a job already there with this spec's uid counts as success;
        one there with another uid raises a permanent BackendError."""

    @abstractmethod
    def cancel(self, job_id: int, project: str) -> bool:
        """Stop the job and what it started. A job that is already gone is not an error.

        Returns whether what the job holds on the backend may outlive this call (a cluster's
        Pods take their grace period to stop, and its quota counts them meanwhile): the portal
        then holds the job's resources until the watcher, or reconcile, sees them gone."""

    @abstractmethod
    def logs(self, job_id: int, project: str, tail: int | None = None) -> list[str]:
        """The last ``tail`` lines of the job's output (all of it when None)."""

    def log_chunks(self, job_id: int, project: str) -> Iterator[bytes]:
        """The job's whole output as it stands, in pieces of bounded size, so that a reader of a
        huge log holds one piece at a time. Raises BackendError before the first piece when the
        log cannot be read. This default reads it whole through ``logs``; backends override it."""
        yield "\n".join(self.logs(job_id, project)).encode()

    @abstractmethod
    def status(self, job_id: int, project: str) -> BackendStatus:
        """One look at a job (a retried dispatch looks before it submits again)."""

    def survey(self, jobs: Iterable[tuple[int, str]]) -> dict[int, BackendStatus]:
        """The status of each of ``jobs`` ((id, project) pairs), for the periodic reconcile.
        ``extra["pods"]``, when a backend reports it, counts what the job still holds there.
        This default looks at each job; a backend that can list all its jobs at once overrides it,
        so that a reconcile costs a few requests, not a few per job."""
        return {job_id: self.status(job_id, project) for job_id, project in jobs}

    @abstractmethod
    def watch(self, stop: Event) -> Generator[BackendStatus, bool | None, None]:
        """Statuses as they change, until ``stop`` is set. Survives reconnects on its own.

        The consumer may send back False for a status it could not save: the backend then does
        not take it as seen, and yields it (or what followed it) again later."""

    def ensure_project(self, limits: ProjectLimits) -> None:  # noqa: B027 - optional for backends
        """Prepare what the project needs on the backend (a namespace, its quota). Idempotent."""

    def scope(self) -> str:
        """Which execution target this backend instance talks to (e.g. which cluster): what the
        portal's cached knowledge of it (projects already prepared) is keyed by."""
        return self.name
