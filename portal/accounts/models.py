import hashlib
import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

TOKEN_PREFIX = "tlr_"


class User(AbstractUser):
    """A researcher or admin. ``is_staff`` makes a site admin: sees and approves every project."""

    # An IANA zone (Europe/Madrid) the pages show times in; empty: the site's TIME_ZONE.
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True)

    @property
    def is_site_admin(self) -> bool:
        return self.is_active and (self.is_staff or self.is_superuser)


# Set on the request's user by token authentication when the token reaches one project alone;
# portal/projects/access.py and the ``visible_to`` querysets read it through scoped_project_id.
SCOPE_ATTRIBUTE = "taller_scope_project_id"


def scoped_project_id(user) -> int | None:
    """The one project this request's user is narrowed to (a project-scoped token), or None."""
    return getattr(user, SCOPE_ATTRIBUTE, None)


def hash_token(key: str) -> str:
    # Keys are 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def active(self) -> "ApiTokenQuerySet":
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """An API token. Only its hash is stored: the key is shown once, at creation.

    A person's token (``workload`` false) reaches the REST API and the ``/mlflow/`` proxy as its
    user; with a ``project`` it reaches that project alone (``access.narrow``). A workload's
    token (the one the portal hands to a running job) always has a ``project`` and reaches only
    that project's MLflow tracking through the proxy, never the API that manages projects,
    members, quotas or jobs, because job code is not its submitter and may leak it. Either kind
    may expire (``expires_at``): an expired token is refused everywhere.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=12, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    project = models.ForeignKey(
        "projects.Project",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("project"),
    )
    workload = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def generate_key() -> str:
        return TOKEN_PREFIX + secrets.token_urlsafe(32)

    def is_workload_token(self) -> bool:
        """A job's token: tracking of its project through the proxy only (see the class)."""
        return self.workload

    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()


class ExternalIdentity(models.Model):
    """A user's account at a single sign-on provider: its issuer and subject (the ``sub`` claim).

    Sign-in finds the user by this pair, never by email: an email at the provider may be
    unverified, reused or changed, the subject is the provider's stable name for the person.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_identities"
    )
    issuer = models.CharField(_("issuer"), max_length=255)
    subject = models.CharField(_("subject"), max_length=255)
    created_at = models.DateTimeField(default=timezone.now)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="accounts_identity_issuer_subject")
        ]
        verbose_name = _("single sign-on identity")
        verbose_name_plural = _("single sign-on identities")

    def __str__(self) -> str:
        return f"{self.subject} @ {self.issuer}"


def scopable_projects(user):
    """The projects a person may scope a token to: those they see (``Project.objects.visible_to``).
    Reached through the token's foreign key: portal/projects imports accounts, not the reverse."""
    return ApiToken._meta.get_field("project").related_model.objects.visible_to(user)
