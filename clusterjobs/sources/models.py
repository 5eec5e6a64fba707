"""A project's git credential: a deploy token (with its user name) for https, or a deploy key
for ssh. Owners set it; its values are stored encrypted (``crypto``) and never shown back."""

from pathlib import Path

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from . import crypto
from .remote import Credential


class SourceCredential(models.Model):
    project = models.OneToOneField(
        "projects.Project", on_delete=models.CASCADE, related_name="source_credential"
    )
    username = models.CharField(_("user name"), max_length=200, blank=True)
    token_sealed = models.TextField(blank=True, editable=False)
    ssh_key_sealed = models.TextField(blank=True, editable=False)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    set_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "clusterjobs"
        verbose_name = _("git credential")

    def __str__(self) -> str:
        return f"git credential of {self.project_id}"

    @property
    def kind(self) -> str:
        return "ssh_key" if self.ssh_key_sealed else "token"

    def credential(self) -> Credential:
        return Credential(
            username=self.username,
            token=crypto.unseal(self.token_sealed),
            ssh_key=crypto.unseal(self.ssh_key_sealed),
        )


class CodeSnapshot(models.Model):
    """A folder a member uploaded (`taller submit --code DIR`) as a .tar.gz, stored once per
    project under its SHA-256 (``snapshots.archive_name``) in the "snapshots" storage."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="code_snapshots")
    digest = models.CharField(_("SHA-256"), max_length=64)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "clusterjobs"
        verbose_name = _("code snapshot")
        constraints = [models.UniqueConstraint(fields=["project", "digest"], name="one_snapshot_per_digest")]

    def __str__(self) -> str:
        return f"snapshot {self.digest[:12]} of {self.project_id}"


def local_folder(project_slug: str) -> Path:
    """The embedded default's folder for a project's DVC data (``dvc remote add`` it to push)."""
    return Path(settings.VAR_DIR) / "dvc" / project_slug


class DvcRemote(models.Model):
    """Where a project's DVC data live, which its jobs' "pull" step reads: an S3-compatible bucket
    (``s3://bucket/prefix``, with an endpoint for a server other than AWS's and a key pair stored
    encrypted like the git credential), a folder on a volume the site shares with its jobs (under
    one of ``TALLER_DVC_SHARED_ROOTS``), or, on the embedded default, a folder of the portal's own
    under ``var/`` (``local_folder``). Owners set it; the key pair is never shown back."""

    class Kind(models.TextChoices):
        S3 = "s3", _("S3-compatible bucket")
        SHARED = "shared", _("Folder on a shared volume")
        LOCAL = "local", _("The portal's own folder (embedded default)")

    project = models.OneToOneField("projects.Project", on_delete=models.CASCADE, related_name="dvc_remote")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    url = models.CharField(_("address"), max_length=500, blank=True)
    endpoint_url = models.CharField(_("endpoint"), max_length=500, blank=True)
    access_key_id_sealed = models.TextField(blank=True, editable=False)
    secret_access_key_sealed = models.TextField(blank=True, editable=False)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    set_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "clusterjobs"
        verbose_name = _("DVC remote")

    def __str__(self) -> str:
        return f"DVC remote of {self.project_id}"

    @property
    def has_credential(self) -> bool:
        return bool(self.secret_access_key_sealed)

    def address(self) -> str:
        """Where DVC reads: the bucket's URL, or the folder (the portal's own, on the embedded
        default, is computed: it follows ``VAR_DIR``)."""
        if self.kind == self.Kind.LOCAL:
            return str(local_folder(self.project.slug))
        return self.url

    def env(self) -> dict[str, str]:
        """What the pull step reads of it (``pull``): the address, the endpoint, the key pair."""
        from . import pull

        values = {
            pull.REMOTE: self.address(),
            pull.ENDPOINT: self.endpoint_url,
            pull.ACCESS_KEY_ID: crypto.unseal(self.access_key_id_sealed),
            pull.SECRET_ACCESS_KEY: crypto.unseal(self.secret_access_key_sealed),
        }
        return {name: value for name, value in values.items() if value}
