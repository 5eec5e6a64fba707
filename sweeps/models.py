"""A sweep (a job spec with placeholders, a search space, an algorithm, an objective and limits)
and its trials, each an ordinary job. The trials are the sampler's memory: ``sampler.py`` rebuilds
Optuna's study from them, so nothing of the search lives outside the database."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from clusterjobs.models import Job
from portal.projects.models import Project


class Algorithm(models.TextChoices):
    GRID = "grid", _("grid")
    RANDOM = "random", _("random")
    TPE = "tpe", _("TPE (model-based)")


class Direction(models.TextChoices):
    MINIMIZE = "minimize", _("minimize")
    MAXIMIZE = "maximize", _("maximize")


class SweepStatus(models.TextChoices):
    RUNNING = "running", _("running")
    PAUSED = "paused", _("paused")
    STOPPED = "stopped", _("stopped")
    COMPLETED = "completed", _("completed")


class TrialState(models.TextChoices):
    ACTIVE = "active", _("active")
    COMPLETE = "complete", _("complete")
    FAILED = "failed", _("failed")
    PRUNED = "pruned", _("pruned")
    CANCELLED = "cancelled", _("cancelled")


# The columns ``Sweep.say`` writes.
STATUS_FIELDS = ["status", "status_message", "status_values"]


class SweepQuerySet(models.QuerySet):
    def visible_to(self, user) -> "SweepQuerySet":
        """Sweeps of the projects the user may see (every sweep for a site admin)."""
        return self.filter(project__in=Project.objects.visible_to(user))


class Sweep(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="sweeps")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=90)
    # The job's request fields (JSON values) with {name} placeholders in command and env.
    spec = models.JSONField()
    space = models.JSONField()
    algorithm = models.CharField(max_length=10, choices=Algorithm.choices)
    objective = models.CharField(max_length=250)
    direction = models.CharField(max_length=10, choices=Direction.choices)
    max_trials = models.PositiveIntegerField()
    max_parallel = models.PositiveIntegerField()
    seed = models.PositiveIntegerField(default=0)
    # Early stopping: a running trial worse than the median of earlier ones at the same step stops.
    prune = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=SweepStatus.choices, default=SweepStatus.RUNNING)
    # Why it is in its status: a message of the catalogue (stored in English) and its values, so
    # that the API shows it in English and the pages in the reader's language.
    status_message = models.CharField(max_length=200, blank=True)
    status_values = models.JSONField(default=dict, blank=True)
    mlflow_experiment_id = models.CharField(max_length=64, blank=True)
    mlflow_run_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = SweepQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["status"], name="sweeps_sweep_status")]

    def __str__(self) -> str:
        return f"{self.name} (sweep {self.pk})"

    def say(self, status: str, message: str, **values) -> None:
        """Set the status and its reason (``message`` marked with gettext_noop)."""
        self.status, self.status_message, self.status_values = status, message, values

    @property
    def status_reason(self) -> str:
        return self.status_message % self.status_values if self.status_values else self.status_message

    def status_reason_display(self) -> str:
        shown = gettext(self.status_message) if self.status_message else ""
        return shown % self.status_values if self.status_values else shown

    def is_finished(self) -> bool:
        return self.status in (SweepStatus.STOPPED, SweepStatus.COMPLETED)

    def better(self, a: float, b: float) -> bool:
        """Whether objective ``a`` is better than ``b`` in this sweep's direction."""
        return a < b if self.direction == Direction.MINIMIZE else a > b


class Trial(models.Model):
    sweep = models.ForeignKey(Sweep, on_delete=models.CASCADE, related_name="trials")
    number = models.PositiveIntegerField()
    params = models.JSONField()
    job = models.OneToOneField(Job, on_delete=models.PROTECT, related_name="sweep_trial")
    state = models.CharField(max_length=10, choices=TrialState.choices, default=TrialState.ACTIVE)
    objective = models.FloatField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)
    # The objective as logged per step ({step: value}), kept for early stopping.
    curve = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["sweep", "number"], name="sweeps_trial_number_unique")]
        indexes = [models.Index(fields=["sweep", "state"], name="sweeps_trial_state")]

    def __str__(self) -> str:
        return f"trial {self.number} of sweep {self.sweep_id}"
