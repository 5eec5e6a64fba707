"""Writes on projects and memberships. Pages, API views and commands call these, never the ORM directly.

Each raises django.core.exceptions.ValidationError (with a field where it has one) for
bad input, and leaves nothing half-saved.
"""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.accounts.models import User

from .models import AuditEvent, Membership, Project, Role


def record(actor, project: Project | None, verb: str, message: str = "", *, target: str = "") -> AuditEvent:
    """Add an event to the audit log: who (``actor``, None for the portal itself), in which
    project, did what (``verb``, spelled ``<kind>.<action>``, e.g. ``job.cancel``) to what
    (``target``, e.g. ``job 42``), with details (``message``).

    Call it inside the change's transaction, after the change: a change rolled back then leaves no
    event, and a committed change never lacks one."""
    return AuditEvent.objects.record(actor, project, verb, message, target=target)


# Slugs that would shadow the portal's own URLs under /projects/.
RESERVED_SLUGS = frozenset({"new", "review"})


@transaction.atomic
def register_project(user: User, **fields) -> Project:
    """A signed-in user asks for a project; it waits, pending, for a site admin. The requester owns it."""
    slug = fields.get("slug", "")
    if slug in RESERVED_SLUGS:
        raise ValidationError({"slug": _("“%(slug)s” is reserved: choose another slug.") % {"slug": slug}})
    taken = ValidationError({"slug": _("A project with this slug already exists.")})
    if Project.objects.filter(slug=slug).exists():
        raise taken
    project = Project(requested_by=user, status=Project.Status.PENDING, **fields)
    project.full_clean()
    try:
        with transaction.atomic():
            project.save()
    except IntegrityError:  # registered by someone else since the check above
        raise taken from None
    Membership.objects.create(project=project, user=user, role=Role.OWNER)
    record(user, project, "registered")
    return project


def _decide(admin: User, project: Project, status: str, reason: str, verb: str) -> Project:
    updated = Project.objects.filter(pk=project.pk, status=Project.Status.PENDING).update(
        status=status, decision_reason=reason, decided_by=admin, decided_at=timezone.now()
    )
    if not updated:
        raise ValidationError(_("Only a pending project can be approved or rejected."))
    project.refresh_from_db()
    record(admin, project, verb, reason)
    return project


@transaction.atomic
def approve_project(admin: User, project: Project, reason: str = "") -> Project:
    return _decide(admin, project, Project.Status.ACTIVE, reason, "approved")


@transaction.atomic
def reject_project(admin: User, project: Project, reason: str) -> Project:
    if not reason.strip():
        raise ValidationError({"reason": _("Say why the project is rejected.")})
    return _decide(admin, project, Project.Status.REJECTED, reason, "rejected")


@transaction.atomic
def archive_project(actor: User, project: Project) -> Project:
    if project.status == Project.Status.ARCHIVED:
        raise ValidationError(_("The project is already archived."))
    Project.objects.filter(pk=project.pk).update(status=Project.Status.ARCHIVED)
    project.refresh_from_db()
    record(actor, project, "archived")
    return project


def find_user(username_or_email: str) -> User:
    value = username_or_email.strip()
    matches = list(
        User.objects.filter(Q(username__iexact=value) | Q(email__iexact=value), is_active=True)[:2]
    )
    if len(matches) != 1:
        raise ValidationError(
            {"user": _("No single active user has the username or email “%(value)s”.") % {"value": value}}
        )
    return matches[0]


@transaction.atomic
def add_member(actor: User, project: Project, username_or_email: str, role: str) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": _("Choose owner, member or viewer.")})
    user = find_user(username_or_email)
    if Membership.objects.filter(project=project, user=user).exists():
        raise ValidationError({"user": _("%(user)s is already in this project.") % {"user": user.username}})
    membership = Membership.objects.create(project=project, user=user, role=role)
    record(actor, project, "member added", f"{user.username} as {role}", target=f"user {user.username}")
    return membership


def _lock_owners(project: Project) -> int:
    # Lock the owner rows so that two owners removing each other at once cannot leave none.
    return len(list(Membership.objects.select_for_update().filter(project=project, role=Role.OWNER)))


@transaction.atomic
def change_role(actor: User, membership: Membership, role: str) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": _("Choose owner, member or viewer.")})
    owners = _lock_owners(membership.project)
    membership.refresh_from_db()
    if membership.role == Role.OWNER and role != Role.OWNER and owners <= 1:
        raise ValidationError({"role": _("A project needs at least one owner.")})
    membership.role = role
    membership.save(update_fields=["role"])
    record(
        actor,
        membership.project,
        "role changed",
        f"{membership.user.username} to {role}",
        target=f"user {membership.user.username}",
    )
    return membership


@transaction.atomic
def remove_member(actor: User, membership: Membership) -> None:
    owners = _lock_owners(membership.project)
    membership.refresh_from_db()
    if membership.role == Role.OWNER and owners <= 1:
        raise ValidationError({"user": _("A project needs at least one owner: the last owner cannot leave.")})
    membership.delete()
    username = membership.user.username
    record(actor, membership.project, "member removed", username, target=f"user {username}")
