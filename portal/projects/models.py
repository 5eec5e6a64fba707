from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.accounts.models import scoped_project_id

slug_validator = RegexValidator(
    r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$",
    _("Use 1 to 40 lowercase letters, digits and hyphens, starting and ending with a letter or digit."),
)


class Role(models.TextChoices):
    OWNER = "owner", _("owner")
    MEMBER = "member", _("member")
    VIEWER = "viewer", _("viewer")


class ProjectQuerySet(models.QuerySet):
    def visible_to(self, user) -> "ProjectQuerySet":
        """The projects a user may see: their memberships, or every project for a site admin;
        only the token's project when the request came with a project-scoped token."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        projects = self.all() if user.is_site_admin else self.filter(memberships__user=user)
        only = scoped_project_id(user)
        return projects if only is None else projects.filter(pk=only)


class Project(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("pending approval")
        ACTIVE = "active", _("active")
        REJECTED = "rejected", _("rejected")
        ARCHIVED = "archived", _("archived")

    # The slug names the Kubernetes namespace (taller-<slug>) and the MLflow experiment prefix.
    slug = models.SlugField(_("slug"), max_length=40, unique=True, validators=[slug_validator])
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    principal_investigator = models.CharField(_("principal investigator"), max_length=200)
    field_of_research = models.CharField(_("field of research"), max_length=200, blank=True)
    expected_needs = models.TextField(
        _("expected needs"),
        blank=True,
        help_text=_("GPUs, CPU hours, storage: what the group expects to use."),
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    decision_reason = models.TextField(_("reason"), blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="requested_projects"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("project")
        verbose_name_plural = _("projects")

    def __str__(self) -> str:
        return self.name

    def is_active(self) -> bool:
        """Only an active project submits jobs and logs runs."""
        return self.status == self.Status.ACTIVE


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["user__username"]
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="unique_membership")]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.role})"


class AuditEvent(models.Model):
    """Who did what to a project, when and why: decisions, members, quotas."""

    project = models.ForeignKey(Project, null=True, on_delete=models.CASCADE, related_name="audit_events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    verb = models.CharField(max_length=40)
    message = models.TextField(blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor} {self.verb}"
