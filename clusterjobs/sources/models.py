"""A project's git credential: a deploy token (with its user name) for https, or a deploy key
for ssh. Owners set it; its values are stored encrypted (``crypto``) and never shown back."""

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
