from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Period(models.TextChoices):
    WEEKLY = "weekly", _("weekly")
    MONTHLY = "monthly", _("monthly")
    QUARTERLY = "quarterly", _("quarterly")
    YEARLY = "yearly", _("yearly")


class Quota(models.Model):
    """What one project may use at once (concurrency) and per period (budget)."""

    project = models.OneToOneField("projects.Project", on_delete=models.CASCADE, related_name="quota")
    max_gpus = models.PositiveIntegerField(_("maximum concurrent GPUs"))
    max_cpu = models.DecimalField(
        _("maximum concurrent CPU cores"), max_digits=8, decimal_places=3, validators=[MinValueValidator(0)]
    )
    max_memory_mib = models.PositiveIntegerField(_("maximum concurrent memory (MiB)"))
    max_running_jobs = models.PositiveIntegerField(_("maximum running jobs"))
    max_time_limit_minutes = models.PositiveIntegerField(_("maximum time limit per job (minutes)"))
    gpu_hours_per_period = models.DecimalField(
        _("GPU-hours per period"), max_digits=12, decimal_places=2, validators=[MinValueValidator(0)]
    )
    cpu_hours_per_period = models.DecimalField(
        _("CPU-hours per period"), max_digits=12, decimal_places=2, validators=[MinValueValidator(0)]
    )
    period = models.CharField(_("period"), max_length=16, choices=Period.choices, default=Period.MONTHLY)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("quota")
        verbose_name_plural = _("quotas")

    def __str__(self) -> str:
        return f"quota of {self.project}"

    @classmethod
    def defaults(cls) -> dict:
        d = settings.TALLER_DEFAULT_QUOTA
        return {
            "max_gpus": d["max_gpus"],
            "max_cpu": Decimal(str(d["max_cpu"])),
            "max_memory_mib": d["max_memory_mib"],
            "max_running_jobs": d["max_running_jobs"],
            "max_time_limit_minutes": d["max_time_limit_minutes"],
            "gpu_hours_per_period": Decimal(str(d["gpu_hours_per_period"])),
            "cpu_hours_per_period": Decimal(str(d["cpu_hours_per_period"])),
            "period": d["period"],
        }

    def limits(self) -> dict:
        """The quota's values by field name, as plain JSON-friendly values (for history and API)."""
        return {name: _plain(getattr(self, name)) for name in QUOTA_FIELDS}


# The fields a site admin sets and an owner may ask more of.
QUOTA_FIELDS = (
    "max_gpus",
    "max_cpu",
    "max_memory_mib",
    "max_running_jobs",
    "max_time_limit_minutes",
    "gpu_hours_per_period",
    "cpu_hours_per_period",
    "period",
)
# Fields a quota request may raise (the period is an admin's bookkeeping choice).
REQUESTABLE_FIELDS = QUOTA_FIELDS[:-1]


def _plain(value):
    if isinstance(value, Decimal):
        return str(int(value)) if value == value.to_integral() else format(value.normalize(), "f")
    return value


class QuotaChange(models.Model):
    """One change of a project's quota: who, when, why, and the values before and after."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="quota_changes")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now, db_index=True)
    reason = models.TextField(_("reason"))
    old_values = models.JSONField(default=dict)
    new_values = models.JSONField(default=dict)
    request = models.ForeignKey(
        "QuotaRequest", null=True, blank=True, on_delete=models.SET_NULL, related_name="changes"
    )

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name = _("quota change")
        verbose_name_plural = _("quota changes")

    def __str__(self) -> str:
        return f"{self.project} {self.at:%Y-%m-%d %H:%M}"

    def changed(self) -> list[tuple[str, object, object]]:
        """(field, old, new) for each field whose value changed."""
        return [
            (name, self.old_values.get(name), self.new_values.get(name))
            for name in QUOTA_FIELDS
            if name in self.new_values and self.old_values.get(name) != self.new_values.get(name)
        ]


class QuotaRequest(models.Model):
    """A project owner asks for more; a site admin approves (the quota changes) or declines."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        APPROVED = "approved", _("approved")
        DECLINED = "declined", _("declined")

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="quota_requests")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now, db_index=True)
    # {"max_gpus": 8, "gpu_hours_per_period": "500"}: the new values asked for.
    values = models.JSONField(_("requested values"))
    reason = models.TextField(_("why"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(_("decision reason"), blank=True)

    class Meta:
        ordering = ["-requested_at", "-pk"]
        indexes = [models.Index(fields=["status", "requested_at"], name="quotarequest_status")]
        verbose_name = _("quota request")
        verbose_name_plural = _("quota requests")

    def __str__(self) -> str:
        return f"{self.project} {self.requested_at:%Y-%m-%d} ({self.status})"

    def is_pending(self) -> bool:
        return self.status == self.Status.PENDING


class MemberCap(models.Model):
    """An optional cap for one member inside the project's quota (empty: only the project's quota)."""

    membership = models.OneToOneField(
        "projects.Membership", on_delete=models.CASCADE, related_name="quota_cap"
    )
    max_gpus = models.PositiveIntegerField(_("maximum concurrent GPUs"), null=True, blank=True)
    max_running_jobs = models.PositiveIntegerField(_("maximum running jobs"), null=True, blank=True)

    class Meta:
        verbose_name = _("member cap")
        verbose_name_plural = _("member caps")

    def __str__(self) -> str:
        return f"cap of {self.membership}"


class Holding(models.Model):
    """What a project's jobs hold right now: active jobs and their resources, and how many wait.

    On PostgreSQL a trigger on the jobs table keeps this row exact on every insert, update and
    delete of a job, so admission reads one row per project instead of summing its jobs.
    Elsewhere (the embedded SQLite default) admission sums the jobs instead and ignores it.
    """

    project = models.OneToOneField(
        "projects.Project", on_delete=models.CASCADE, primary_key=True, related_name="holding"
    )
    jobs = models.IntegerField(default=0)
    gpus = models.IntegerField(default=0)
    cpu = models.DecimalField(max_digits=14, decimal_places=3, default=Decimal(0))
    memory_mib = models.BigIntegerField(default=0)
    queued_jobs = models.IntegerField(default=0)

    class Meta:
        verbose_name = _("holding")
        verbose_name_plural = _("holdings")

    def __str__(self) -> str:
        return f"holding of {self.project_id}"


class AdmissionLock(models.Model):
    """A single row: admission across all projects takes it FOR UPDATE, so one decides at a time."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)

    class Meta:
        verbose_name = _("admission lock")

    def __str__(self) -> str:
        return "admission lock"


def ensure_quota(project) -> Quota:
    """The project's quota, created from the settings' defaults the first time.

    It lives beside the model so that projects can reach a quota without importing the quotas
    app's actions (which call into jobs)."""
    quota, _created = Quota.objects.get_or_create(project=project, defaults=Quota.defaults())
    return quota
