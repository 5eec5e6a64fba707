from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
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
        from django.conf import settings

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
