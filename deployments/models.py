"""A deployment: a registered model version (or an alias it follows) served as a project's
inference service, with its replicas and the resources of each."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.accounts.models import scoped_project_id

from . import known_keys


class DeploymentStatus(models.TextChoices):
    STARTING = "starting", _("starting")
    RUNNING = "running", _("running")
    UPDATING = "updating", _("updating")
    FAILED = "failed", _("failed")
    STOPPED = "stopped", _("stopped")


# The fields that decide what a deployment holds (and so its usage).
HELD_FIELDS = frozenset({"status", "replicas", "cpu", "memory_mib", "gpus"})
# The fields the serving path reads of a deployment, in this order (``keys.keyed_deployment``).
SERVED_FIELDS = ("pk", "project_id", "status", "address", "sample_fraction")
# A save or an UPDATE of these has the serving processes look their keys up again (``known_keys``);
# a deployment keeps its project.
SERVED_CHANGES = frozenset(SERVED_FIELDS) - {"pk", "project_id"}
# Deployments whose replicas hold (or are about to hold) the project's quota.
LIVE = frozenset({DeploymentStatus.STARTING, DeploymentStatus.RUNNING, DeploymentStatus.UPDATING})


class DeploymentQuerySet(models.QuerySet):
    def visible_to(self, user) -> "DeploymentQuerySet":
        """Deployments of the projects the user may see (all of them for a site admin)."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        found = self.all() if user.is_site_admin else self.filter(project__memberships__user=user)
        only = scoped_project_id(user)
        return found if only is None else found.filter(project_id=only)

    def live(self) -> "DeploymentQuerySet":
        return self.filter(status__in=LIVE)

    def update(self, **fields) -> int:
        """Every UPDATE that may change what deployments hold also brings their record of use in
        line (``record_use``), in the same transaction, whichever code path made it; one that may
        change what the serving path reads has it look its keys up again."""
        if SERVED_CHANGES & fields.keys():
            known_keys.forget()
        if not HELD_FIELDS & fields.keys():
            return super().update(**fields)
        with transaction.atomic():
            ids = list(self.values_list("pk", flat=True))
            updated = super().update(**fields)
            if updated:
                record_use(ids)
        return updated


class Deployment(models.Model):
    """``version`` is what should serve, ``serving_version`` what serves now (they differ during a
    rollout), ``previous_version`` what a roll back returns to. With an ``alias`` the deployment
    follows it: ``version`` moves when the alias does."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="deployments")
    name = models.SlugField(_("name"), max_length=40)
    model_name = models.CharField(_("registered model"), max_length=255)
    alias = models.CharField(_("alias"), max_length=255, blank=True)
    version = models.CharField(_("version"), max_length=20)
    serving_version = models.CharField(max_length=20, blank=True)
    previous_version = models.CharField(max_length=20, blank=True)
    replicas = models.PositiveIntegerField(_("replicas"), default=1, validators=[MinValueValidator(1)])
    cpu = models.DecimalField(_("CPU cores"), max_digits=6, decimal_places=2, default=Decimal("1"))
    memory_mib = models.PositiveIntegerField(_("memory (MiB)"), default=1024)
    gpus = models.PositiveIntegerField(_("GPUs"), default=0)
    status = models.CharField(
        max_length=12, choices=DeploymentStatus.choices, default=DeploymentStatus.STARTING
    )
    status_reason = models.CharField(max_length=500, blank=True)
    backend = models.CharField(max_length=20, blank=True)
    address = models.CharField(max_length=200, blank=True)  # where the serving replicas answer
    serving_replicas = models.PositiveIntegerField(default=0)
    token = models.ForeignKey(
        "accounts.ApiToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    stopped_at = models.DateTimeField(null=True, blank=True)
    # The share of calls whose bodies are kept (0: none, the default) and for how many days.
    sample_fraction = models.FloatField(_("sampled share of calls"), default=0.0)
    sample_retention_days = models.PositiveIntegerField(_("days samples are kept"), default=7)

    objects = DeploymentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="deployments_unique_name_in_project")
        ]
        verbose_name = _("deployment")
        verbose_name_plural = _("deployments")

    def __str__(self) -> str:
        return f"{self.project.slug}/{self.name}"

    def save(self, *args, **kwargs) -> None:
        """Saved with what it holds recorded for the usage figures (``record_use``), and the
        serving processes told when what they read of it may have changed."""
        fields = kwargs.get("update_fields")
        with transaction.atomic():
            super().save(*args, **kwargs)
            if fields is None or HELD_FIELDS & set(fields):
                record_use([self.pk])
            if fields is None or SERVED_CHANGES & set(fields):
                known_keys.forget()

    def get_absolute_url(self) -> str:
        return reverse("deployments:detail", args=[self.project.slug, self.name])

    def is_live(self) -> bool:
        return self.status in LIVE

    @property
    def short_model_name(self) -> str:
        return self.model_name.split(".", 1)[-1]

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model_name}/{self.version}"

    def serve_command(self, mlflow: str, host: str, port: int, workers: int) -> list[str]:
        """MLflow's model server for the wanted version, as both the local servers and the
        cluster's containers run it (in the environment the image or the portal already has)."""
        return [
            mlflow, "models", "serve", "--model-uri", self.model_uri, "--env-manager", "local",
            "--host", host, "--port", str(port), "--workers", str(workers),
        ]  # fmt: skip


KEY_PREFIX = "tdk_"


class DeploymentKey(models.Model):
    """A key that calls one deployment (for a demo page, another group, an instrument), and
    nothing else. Only its hash is stored; it is shown once. Revoked keys are refused."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="keys")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=12, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("deployment key")
        verbose_name_plural = _("deployment keys")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


# Upper edges (ms) of the latency histogram's buckets; the last bucket holds everything slower.
LATENCY_EDGES_MS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000)
BUCKETS = len(LATENCY_EDGES_MS) + 1


class TrafficMinute(models.Model):
    """One minute of a deployment's calls through the portal: how many, how many failed, and
    their latencies in a fixed histogram (``l0``..``l14``), so that the record stays bounded
    whatever the traffic and percentiles come from the counts."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="traffic")
    minute = models.DateTimeField()
    requests = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    for _index in range(BUCKETS):
        locals()[f"l{_index}"] = models.PositiveIntegerField(default=0)
    del _index

    class Meta:
        ordering = ["minute"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "minute"], name="deployments_traffic_minute")
        ]

    def __str__(self) -> str:
        return f"{self.deployment_id} {self.minute:%Y-%m-%d %H:%M}"

    def histogram(self) -> list[int]:
        return [getattr(self, f"l{i}") for i in range(BUCKETS)]


class DeploymentUse(models.Model):
    """A stretch of time a live deployment held the same replicas × resources (``gpus``, ``cpu``
    and ``memory_mib`` are the totals over its replicas): what the usage figures count, with the
    same field names as a job's, charged to the member who made the deployment."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="uses")
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+")
    submitter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    gpus = models.PositiveIntegerField(default=0)
    cpu = models.DecimalField(max_digits=8, decimal_places=2, default=Decimal("0"))
    memory_mib = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["started_at"]
        indexes = [models.Index(fields=["project", "started_at"], name="deployment_use_project")]
        constraints = [
            models.UniqueConstraint(
                fields=["deployment"],
                condition=models.Q(finished_at__isnull=True),
                name="deployments_one_open_use",
            )
        ]

    def __str__(self) -> str:
        return f"{self.deployment_id} {self.started_at:%Y-%m-%d %H:%M}"


def record_use(deployment_ids, now=None) -> None:
    """Bring the open stretch of use of each of ``deployment_ids`` in line with its row as it is
    now: close it when the deployment stopped holding, or holds something else, and open one when
    it holds. Idempotent, so calling it after any write (``Deployment.save`` and
    ``DeploymentQuerySet.update`` do) keeps the record exact whichever code path moved the
    deployment."""
    now = now or timezone.now()
    with transaction.atomic():
        rows = (
            Deployment.objects.select_for_update()
            .filter(pk__in=list(deployment_ids))
            .values("pk", "project_id", "created_by_id", "status", "replicas", "cpu", "memory_mib", "gpus")
        )
        current = {row["pk"]: row for row in rows}
        open_uses = {
            use.deployment_id: use
            for use in DeploymentUse.objects.filter(deployment_id__in=current, finished_at__isnull=True)
        }
        for pk, row in current.items():
            held = None
            if row["status"] in LIVE:
                replicas = row["replicas"]
                held = (replicas * row["gpus"], replicas * row["cpu"], replicas * row["memory_mib"])
            use = open_uses.get(pk)
            if use is not None and (use.gpus, use.cpu, use.memory_mib) != held:
                DeploymentUse.objects.filter(pk=use.pk).update(finished_at=max(now, use.started_at))
                use = None
            if use is None and held is not None:
                DeploymentUse.objects.create(
                    deployment_id=pk,
                    project_id=row["project_id"],
                    submitter_id=row["created_by_id"],
                    started_at=now,
                    gpus=held[0],
                    cpu=held[1],
                    memory_mib=held[2],
                )


class CallSample(models.Model):
    """One sampled call through the serving path: its request and answer bodies, each cut at
    ``TALLER_SERVE_SAMPLE_MAX_BYTES`` (``*_truncated`` says so), with when, status and latency.
    Kept ``sample_retention_days`` of its deployment (``tasks.purge_samples``)."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="samples")
    at = models.DateTimeField(default=timezone.now)
    status = models.PositiveSmallIntegerField()
    latency_ms = models.PositiveIntegerField()
    content_type = models.CharField(max_length=40)
    request_body = models.BinaryField()
    request_truncated = models.BooleanField(default=False)
    response_body = models.BinaryField()
    response_truncated = models.BooleanField(default=False)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["deployment", "at"], name="deployment_sample_at")]

    def __str__(self) -> str:
        return f"{self.deployment_id} {self.at:%Y-%m-%d %H:%M:%S}"

    def request_text(self) -> str:
        return bytes(self.request_body).decode("utf-8", "replace")

    def response_text(self) -> str:
        return bytes(self.response_body).decode("utf-8", "replace")
