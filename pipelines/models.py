"""A pipeline (a project's named definition), its runs and the steps of each run.

A step's row keeps what deciding needs without reading its siblings: the names of the steps
that wait on it (``dependants``) and how many of its own upstream steps have not succeeded yet
(``unmet``), so a step's end touches only its dependants' rows, whatever the pipeline's size."""

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.accounts.models import scoped_project_id


class RunStatus(models.TextChoices):
    RUNNING = "running", _("running")
    SUCCEEDED = "succeeded", _("succeeded")
    FAILED = "failed", _("failed")
    CANCELLED = "cancelled", _("cancelled")


class StepStatus(models.TextChoices):
    WAITING = "waiting", _("waiting for upstream steps")
    STARTING = "starting", _("starting")
    SUBMITTED = "submitted", _("submitted")
    RETRYING = "retrying", _("waiting to retry")
    SUCCEEDED = "succeeded", _("succeeded")
    FAILED = "failed", _("failed")
    UPSTREAM_FAILED = "upstream_failed", _("upstream failed")
    CANCELLED = "cancelled", _("cancelled")
    SKIPPED = "skipped", _("skipped")


# Steps still to decide: a run with none of these has ended.
OPEN = frozenset({StepStatus.WAITING, StepStatus.STARTING, StepStatus.SUBMITTED, StepStatus.RETRYING})
# Steps not yet handed to the cluster: a cancel skips them.
NOT_STARTED = frozenset({StepStatus.WAITING, StepStatus.STARTING, StepStatus.RETRYING})


class VisibleQuerySet(models.QuerySet):
    def visible_to(self, user) -> "VisibleQuerySet":
        """Rows of the projects the user may see (every row for a site admin)."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        rows = self.all() if user.is_site_admin else self.filter(project__memberships__user=user)
        only = scoped_project_id(user)
        return rows if only is None else rows.filter(project_id=only)


class Pipeline(models.Model):
    project = models.ForeignKey("projects.Project", on_delete=models.PROTECT, related_name="pipelines")
    name = models.CharField(_("name"), max_length=100)
    # The latest definition given under this name (each run keeps its own copy).
    definition = models.JSONField(_("definition"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = VisibleQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="pipeline_name_per_project")]

    def __str__(self) -> str:
        return self.name


class PipelineRun(models.Model):
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="runs")
    project = models.ForeignKey("projects.Project", on_delete=models.PROTECT, related_name="pipeline_runs")
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    definition = models.JSONField(_("definition"))
    status = models.CharField(
        _("status"), max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING, db_index=True
    )
    status_reason = models.TextField(_("status reason"), blank=True)
    rerun_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Started by this schedule (rather than by a person).
    schedule = models.ForeignKey(
        "Schedule", null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    mlflow_experiment_id = models.CharField(max_length=64, blank=True)
    mlflow_run_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = VisibleQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.pipeline.name} #{self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("pipelines:run", args=[self.pk])

    def get_status_reason_display(self) -> str:
        from .reasons import translate

        return translate(self.status_reason)

    def is_finished(self) -> bool:
        return self.status != RunStatus.RUNNING

    def duration(self):
        return (self.finished_at or timezone.now()) - self.created_at


class StepRun(models.Model):
    run = models.ForeignKey(PipelineRun, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(_("name"), max_length=63)
    position = models.PositiveIntegerField(default=0)
    # The step's job spec as defined (the job API's body without its project).
    spec = models.JSONField()
    depends_on = models.JSONField(default=list)
    dependants = models.JSONField(default=list)
    unmet = models.PositiveIntegerField(default=0)
    retries = models.PositiveSmallIntegerField(_("retries"), default=0)
    retry_delay_seconds = models.PositiveIntegerField(_("retry delay (seconds)"), default=30)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    status = models.CharField(
        _("status"), max_length=16, choices=StepStatus.choices, default=StepStatus.WAITING
    )
    reason = models.TextField(_("reason"), blank=True)
    # The step's current (or last) job; earlier attempts' jobs are in ``job_ids``.
    job = models.ForeignKey(
        "clusterjobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="pipeline_steps"
    )
    job_ids = models.JSONField(default=list)
    # Kept from the run this one re-runs (its job succeeded there).
    kept = models.BooleanField(default=False)
    # A retry's time: the step is submitted again at or after it.
    not_before = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["run", "name"], name="step_name_per_run")]
        indexes = [models.Index(fields=["run", "status"], name="step_run_status")]

    def __str__(self) -> str:
        return self.name

    def is_open(self) -> bool:
        return self.status in OPEN

    def get_reason_display(self) -> str:
        from .reasons import translate

        return translate(self.reason)

    def duration(self):
        if self.started_at is None:
            return None
        return (self.finished_at or timezone.now()) - self.started_at


class MissedPolicy(models.TextChoices):
    SKIP = "skip", _("skip the missed times")
    ONCE = "once", _("run once to catch up")


class Schedule(models.Model):
    """A pipeline run, or a single job, on a cron expression in a time zone, as the user who made it.

    A schedule targets either a pipeline (its latest definition runs) or a job spec (``job_spec``:
    the jobs API's body without its project, copied from a template or given as a job request,
    checked again at each time)."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="schedules")
    pipeline = models.ForeignKey(
        Pipeline, null=True, blank=True, on_delete=models.CASCADE, related_name="schedules"
    )
    job_spec = models.JSONField(_("job"), default=dict, blank=True)
    # The template the job spec was copied from, when it was (shown; the copy is what runs).
    template = models.ForeignKey(
        "clusterjobs.JobTemplate", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    cron = models.CharField(_("cron expression"), max_length=100)
    zone = models.CharField(_("time zone"), max_length=64, default="UTC")
    missed = models.CharField(
        _("missed times"), max_length=8, choices=MissedPolicy.choices, default=MissedPolicy.SKIP
    )
    paused = models.BooleanField(_("paused"), default=False)
    next_run_at = models.DateTimeField(_("next run"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = VisibleQuerySet.as_manager()

    class Meta:
        ordering = ["pk"]
        indexes = [models.Index(fields=["paused", "next_run_at"], name="schedule_due")]

    def __str__(self) -> str:
        return f"{self.target_name()} ({self.cron})"

    def runs_a_job(self) -> bool:
        """True for a single job's schedule, False for a pipeline's."""
        return self.pipeline_id is None

    def target_name(self) -> str:
        """The pipeline's name, or the scheduled job's."""
        return str(self.job_spec.get("name", "")) if self.runs_a_job() else self.pipeline.name


class ScheduleEvent(models.Model):
    """What a schedule did at one of its times: started a run, was refused (the quota, the
    project), or skipped times missed while the portal was down."""

    class Outcome(models.TextChoices):
        STARTED = "started", _("started")
        REFUSED = "refused", _("refused")
        MISSED = "missed", _("missed")

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="events")
    due_at = models.DateTimeField(_("due at"))
    at = models.DateTimeField(default=timezone.now)
    outcome = models.CharField(_("outcome"), max_length=8, choices=Outcome.choices)
    message = models.TextField(_("message"), blank=True)
    run = models.ForeignKey(PipelineRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    job = models.ForeignKey(
        "clusterjobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.outcome} {self.due_at:%Y-%m-%d %H:%M}"

    def get_message_display(self) -> str:
        from .reasons import translate

        return translate(self.message)


class NotificationChoice(models.Model):
    """What one user wants to hear, by email, about their own jobs and pipeline runs in one project."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+")
    on_end = models.BooleanField(_("when one ends"), default=False)
    on_failure = models.BooleanField(_("when one fails"), default=True)
    # Told once when one waits (queued or pending admission) longer than this; empty: never.
    wait_longer_than = models.DurationField(_("when one waits longer than"), null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "project"], name="notification_choice_per_project")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.project}"


class WaitNotice(models.Model):
    """A job that has waited past its submitter's threshold, told once (``waits.tick``). For a
    pipeline step's job, ``run`` is its pipeline run: a run is told once, whichever step waits."""

    job = models.OneToOneField("clusterjobs.Job", on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(PipelineRun, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    # Whether this job's wait was told (False: its run had been told already).
    told = models.BooleanField(default=True)
    at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"job {self.job_id} waited"


class Webhook(models.Model):
    """A project's outgoing webhook: a chat service's incoming webhook (Slack, Mattermost, Teams
    take ``{"text": ...}``), or a generic JSON body signed with HMAC-SHA256."""

    class Kind(models.TextChoices):
        CHAT = "chat", _("chat (Slack, Mattermost, Teams)")
        SIGNED = "signed", _("generic JSON, signed")

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(_("URL"), max_length=500)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.CHAT)
    secret = models.CharField(max_length=64, blank=True, editable=False)
    only_failures = models.BooleanField(_("only failures"), default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.url


class Delivery(models.Model):
    """One notification on its way (an email or a webhook call), retried with backoff by a task."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")

    webhook = models.ForeignKey(
        Webhook, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    email = models.EmailField(blank=True)
    subject = models.CharField(max_length=300)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.subject
