from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.accounts.models import scoped_project_id

from .reasons import translate_reason
from .sources.models import SourceCredential  # noqa: F401 - the app's models are found here


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("queued")
    DISPATCHING = "dispatching", _("dispatching")
    PENDING = "pending", _("pending")
    RUNNING = "running", _("running")
    SUCCEEDED = "succeeded", _("succeeded")
    FAILED = "failed", _("failed")
    CANCELLED = "cancelled", _("cancelled")


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
# Jobs that hold (or are about to hold) cluster resources: what the quota counts as in use.
ACTIVE = frozenset({JobStatus.DISPATCHING, JobStatus.PENDING, JobStatus.RUNNING})

# The lifecycle of DESIGN.md: which states each state may come from.
ALLOWED_FROM: dict[str, frozenset[str]] = {
    JobStatus.QUEUED: frozenset(),
    JobStatus.DISPATCHING: frozenset({JobStatus.QUEUED}),
    JobStatus.PENDING: frozenset({JobStatus.DISPATCHING}),
    JobStatus.RUNNING: frozenset({JobStatus.DISPATCHING, JobStatus.PENDING}),
    JobStatus.SUCCEEDED: frozenset({JobStatus.DISPATCHING, JobStatus.PENDING, JobStatus.RUNNING}),
    JobStatus.FAILED: frozenset(
        {JobStatus.QUEUED, JobStatus.DISPATCHING, JobStatus.PENDING, JobStatus.RUNNING}
    ),
    JobStatus.CANCELLED: frozenset(
        {JobStatus.QUEUED, JobStatus.DISPATCHING, JobStatus.PENDING, JobStatus.RUNNING}
    ),
}


class JobQuerySet(models.QuerySet):
    def visible_to(self, user) -> "JobQuerySet":
        """Jobs of the projects the user may see (every job for a site admin)."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        jobs = self.all() if user.is_site_admin else self.filter(project__memberships__user=user)
        only = scoped_project_id(user)  # a project-scoped token reaches that project's jobs alone
        return jobs if only is None else jobs.filter(project_id=only)

    def active(self) -> "JobQuerySet":
        return self.filter(status__in=ACTIVE)

    def holding(self) -> "JobQuerySet":
        """Jobs whose resources admission counts as taken: the active ones, and the ended ones
        whose processes still linger on the backend (a cancelled job's terminating Pods)."""
        return self.filter(models.Q(status__in=ACTIVE) | models.Q(lingering=True))


class JobRequestFields(models.Model):
    """The columns of a ``request.JobRequest`` that a job and a template both keep: what to run
    and what it may use. A new field of the request is a column here (and its migration)."""

    image = models.CharField(_("image"), max_length=500)
    command = models.JSONField(_("command"), help_text=_("A list of arguments; no shell."))
    # Environment variables: {"NAME": "value"}; a job's secret_env_names are never shown back.
    env = models.JSONField(_("environment"), default=dict, blank=True)
    cpu = models.DecimalField(
        _("CPU cores"),
        max_digits=7,
        decimal_places=3,
        default=Decimal("1"),
        validators=[MinValueValidator(0)],
    )
    memory_mib = models.PositiveIntegerField(_("memory (MiB)"), default=2048)
    gpus = models.PositiveIntegerField(_("GPUs"), default=0)
    gpu_type = models.CharField(_("GPU type"), max_length=100, blank=True)
    time_limit_minutes = models.PositiveIntegerField(_("time limit (minutes)"), default=60)
    # {"git": address, "ref": as asked, "commit": what it named at submission}; {}: none.
    source = models.JSONField(_("source"), default=dict, blank=True)

    class Meta:
        abstract = True


class Job(JobRequestFields):
    project = models.ForeignKey("projects.Project", on_delete=models.PROTECT, related_name="jobs")
    submitter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="jobs")
    name = models.CharField(_("name"), max_length=100)
    secret_env_names = models.JSONField(default=list, blank=True)
    backoff_limit = models.PositiveSmallIntegerField(_("retries on failure"), default=0)
    experiment_name = models.CharField(_("MLflow experiment"), max_length=200, default="default")

    status = models.CharField(
        _("status"), max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    status_reason = models.TextField(_("status reason"), blank=True)
    exit_code = models.IntegerField(_("exit code"), null=True, blank=True)
    backend = models.CharField(_("backend"), max_length=20, blank=True)
    image_digest = models.CharField(_("image digest"), max_length=300, blank=True)
    mlflow_experiment_id = models.CharField(max_length=64, blank=True)
    mlflow_run_id = models.CharField(max_length=64, blank=True, db_index=True)
    final_log = models.TextField(blank=True)
    # The dispatch attempt that holds the job (a Celery task id: its retries keep it), written in the
    # transaction that reads the job, and until when: the attempt renews it while it works, and a
    # failed one holds it until its retry is due. Another attempt leaves the job alone until then;
    # past it the claim is stale (its worker died) and the periodic drain dispatches the job again.
    dispatch_claim = models.CharField(max_length=64, blank=True, editable=False)
    dispatch_claimed_until = models.DateTimeField(null=True, blank=True, editable=False)
    # Set when a cancel is asked, before the backend is told: the deletion the watcher may see
    # before the cancel is recorded is then this cancel (with this reason), not a failure.
    cancel_reason = models.TextField(blank=True, editable=False)
    # Ended, but what it ran still lingers on the backend (a cancelled job's Pods terminating,
    # still counted by the namespace's quota): admission holds its resources until the watcher or
    # reconcile sees them gone, or TALLER_LINGER_TIMEOUT_SECONDS after it ended.
    lingering = models.BooleanField(default=False, editable=False)
    # The job-scoped portal token the job uses for MLflow through the proxy; revoked when the job ends.
    mlflow_token = models.ForeignKey(
        "accounts.ApiToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # Its GPUs' average use (%) over its run, read from Prometheus once it ended (a job that held
    # GPUs, on a site with TALLER_PROMETHEUS_URL), and whether that was under the site's threshold.
    gpu_use_percent = models.FloatField(_("GPU use (%)"), null=True, blank=True, editable=False)
    gpu_underused = models.BooleanField(_("GPUs underused"), default=False, editable=False)

    rerun_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns"
    )
    # Started by a schedule (directly, or as a step of a pipeline run it started). ``scheduled``
    # stays true when the schedule is deleted later; ``schedule`` then becomes empty.
    schedule = models.ForeignKey(
        "pipelines.Schedule", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    scheduled = models.BooleanField(_("started by a schedule"), default=False)
    # A reproduction: the same code, data, image (pinned by its digest) and command as this job.
    reproduced_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reproductions"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["project", "status", "created_at"], name="job_project_status"),
            models.Index(fields=["submitter", "-created_at"], name="job_submitter_recent"),
        ]
        verbose_name = _("job")
        verbose_name_plural = _("jobs")

    def __str__(self) -> str:
        return f"{self.backend_name} {self.name}"

    def get_absolute_url(self) -> str:
        return reverse("clusterjobs:detail", args=[self.pk])

    @property
    def backend_name(self) -> str:
        """The job's name on its backend, derived from its id so a retried dispatch finds it again."""
        return f"taller-{self.pk}"

    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def ran_for(self) -> timedelta | None:
        """How long it has run: from its start to its end (to now while it runs); None before."""
        if self.started_at is None:
            return None
        return (self.finished_at or timezone.now()) - self.started_at

    def waited(self) -> timedelta | None:
        """How long it waited to start since submission (so far, while it waits); None for a job
        that ended without starting at a time the backend told."""
        end = self.started_at or (None if self.is_terminal() else timezone.now())
        return None if end is None else end - self.created_at

    def is_active(self) -> bool:
        return self.status in ACTIVE

    def get_status_reason_display(self) -> str:
        """The status reason in the reader's language (it is stored in English)."""
        return translate_reason(self.status_reason)

    def shown_env(self) -> dict[str, str]:
        """The environment as it may be shown back: secret values masked."""
        secret = set(self.secret_env_names)
        return {name: ("••••••" if name in secret else value) for name, value in self.env.items()}


class JobTransition(models.Model):
    """One move of a job through its lifecycle, with when and why."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=16, choices=JobStatus.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=JobStatus.choices)
    reason = models.TextField(blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "pk"]
        # /metrics reads the recent admissions and dispatches by target state and time.
        indexes = [models.Index(fields=["to_status", "at"], name="jobtransition_recent")]

    def __str__(self) -> str:
        return f"{self.job_id}: {self.from_status or '∅'} → {self.to_status}"

    def get_reason_display(self) -> str:
        """The reason in the reader's language (it is stored in English)."""
        return translate_reason(self.reason)


class JobTemplate(JobRequestFields):
    """A job spec that prefills the submission form: a project's own (its members write them), or
    one for every project (``project`` empty, curated by site admins)."""

    project = models.ForeignKey(
        "projects.Project",
        on_delete=models.CASCADE,
        related_name="job_templates",
        null=True,
        blank=True,
        help_text=_("Empty: offered to every project."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("offered"), default=True)

    class Meta:
        ordering = ["title", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["project", "title"], name="job_template_title_once_per_project")
        ]
        verbose_name = _("job template")
        verbose_name_plural = _("job templates")

    def __str__(self) -> str:
        return self.title

    @classmethod
    def offered_to(cls, project) -> models.QuerySet:
        """The templates a project's submission form offers: its own and the site's."""
        return cls.objects.filter(models.Q(project=None) | models.Q(project=project), is_active=True)


class TaskLease(models.Model):
    """A periodic task's lease: a run takes it with a conditional UPDATE (healthchecks' claim) or
    skips, so at most one run of the task is under way at a time, on any worker; a run that died
    holding it loses it when it expires."""

    name = models.CharField(max_length=100, primary_key=True)
    until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} until {self.until}"


class PreparedProject(models.Model):
    """A project as last prepared on a backend (Kubernetes: its namespace, ResourceQuota and
    LimitRange), with a digest of the limits it was prepared with. Dispatches that find it
    missing or outdated prepare it under this row's lock, so concurrent first jobs of a project
    prepare it once."""

    scope = models.CharField(max_length=64)  # which backend: a digest of Backend.scope()
    slug = models.CharField(max_length=100)
    digest = models.CharField(max_length=64, blank=True)
    prepared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "slug"], name="prepared_project_once")]

    def __str__(self) -> str:
        return f"{self.slug} on {self.scope}"
