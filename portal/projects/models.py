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


class AuditKind(models.TextChoices):
    """What an audit event is about: the filter people reach for first."""

    PROJECT = "project", _("project")
    MEMBER = "member", _("member")
    QUOTA = "quota", _("quota")
    JOB = "job", _("job")
    PIPELINE = "pipeline", _("pipeline")
    SCHEDULE = "schedule", _("schedule")
    WEBHOOK = "webhook", _("webhook")
    NOTIFICATION = "notification", _("notification")
    TOKEN = "token", _("token")
    MODEL = "model", _("model")
    DEPLOYMENT = "deployment", _("deployment")
    SOURCE = "source", _("code and data source")
    OTHER = "other", _("other")


# The verbs recorded before verbs were spelled ``<kind>.<action>``: each one's kind.
LEGACY_KINDS = {
    "registered": AuditKind.PROJECT,
    "approved": AuditKind.PROJECT,
    "rejected": AuditKind.PROJECT,
    "archived": AuditKind.PROJECT,
    "member added": AuditKind.MEMBER,
    "role changed": AuditKind.MEMBER,
    "member removed": AuditKind.MEMBER,
    "quota changed": AuditKind.QUOTA,
    "quota requested": AuditKind.QUOTA,
    "quota request declined": AuditKind.QUOTA,
    "member cap set": AuditKind.QUOTA,
    "member cap removed": AuditKind.QUOTA,
}


def kind_of_verb(verb: str) -> str:
    """``job.submit`` is about a job; the older verbs are looked up in ``LEGACY_KINDS``."""
    if verb in LEGACY_KINDS:
        return LEGACY_KINDS[verb]
    prefix = verb.split(".", 1)[0]
    return prefix if prefix in AuditKind.values else AuditKind.OTHER


class AuditEventQuerySet(models.QuerySet):
    def record(
        self, actor, project: "Project | None", verb: str, message: str = "", *, target: str = ""
    ) -> "AuditEvent":
        """One event, in the caller's transaction: a change rolled back leaves no event."""
        actor = actor if actor is not None and actor.is_authenticated else None
        return self.create(
            actor=actor,
            actor_name=actor.get_username() if actor else "",
            project=project,
            verb=verb,
            kind=kind_of_verb(verb),
            target=target[:200],
            message=message,
        )

    def update(self, **kwargs):
        raise TypeError("The audit log is append-only.")

    def delete(self):
        raise TypeError("The audit log is append-only.")


class AuditEvent(models.Model):
    """Who did what to a project, when, to which object: decisions, members, quotas, jobs,
    pipelines, schedules, webhooks, tokens, models and deployments.

    Append-only: written by ``actions.record`` inside the change's own transaction, never edited
    or deleted (the admin, the pages and the API offer neither; saving an existing event or
    deleting one raises; on PostgreSQL a trigger refuses UPDATE and DELETE too). A project with
    events cannot be deleted (archive it); a user who is deleted leaves their name on their events.
    """

    project = models.ForeignKey(Project, null=True, on_delete=models.PROTECT, related_name="audit_events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(_("actor"), max_length=150, blank=True)
    verb = models.CharField(_("action"), max_length=40)
    kind = models.CharField(_("kind"), max_length=20, choices=AuditKind.choices, default=AuditKind.OTHER)
    target = models.CharField(_("target"), max_length=200, blank=True)
    message = models.TextField(_("details"), blank=True)
    at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["project", "-at", "-id"], name="audit_project_at"),
            models.Index(fields=["kind", "-at"], name="audit_kind_at"),
        ]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name or '-'} {self.verb}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not self._state.adding:
            raise TypeError("The audit log is append-only: an event is never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("The audit log is append-only: an event is never deleted.")
