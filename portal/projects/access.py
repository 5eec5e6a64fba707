"""Who may see and change a project. Every page, API call, task and proxy call goes through here.

A project you cannot see is a 404 (its existence is not revealed); one you can see
but not change is a 403.
"""

from enum import IntEnum

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _

from .models import Membership, Project, Role, slug_validator


class Need(IntEnum):
    VIEW = 1  # viewer, member, owner
    CHANGE = 2  # member, owner: submit jobs, log runs, set model aliases
    MANAGE = 3  # owner: members, archive, quota requests


_LEVEL = {Role.VIEWER: Need.VIEW, Role.MEMBER: Need.CHANGE, Role.OWNER: Need.MANAGE}


def role_of(user, project: Project) -> str | None:
    """The user's role in the project, or None. Cached on the project for the request."""
    cache = project.__dict__.setdefault("_roles", {})
    if user.pk not in cache:
        cache[user.pk] = (
            Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()
        )
    return cache[user.pk]


def level_of(user, project: Project) -> int:
    if not user.is_authenticated or not user.is_active:
        return 0
    if user.is_site_admin:
        return Need.MANAGE
    role = role_of(user, project)
    return _LEVEL[role] if role else 0


def can(user, project: Project, need: Need) -> bool:
    return level_of(user, project) >= need


def check(user, project: Project, need: Need) -> None:
    """404 when the user may not see the project, 403 when they see it but may not do this."""
    level = level_of(user, project)
    if level < Need.VIEW:
        raise Http404(_("No such project."))
    if level < need:
        raise PermissionDenied(_("Your role in this project does not allow this."))


def get_project_for_user(user, slug: str, need: Need = Need.VIEW) -> Project:
    try:
        # Anything that is not a slug (a NUL byte, say) names no project: no query needed.
        if not slug_validator.regex.fullmatch(slug or ""):
            raise Project.DoesNotExist
        project = Project.objects.get(slug=slug)
    except Project.DoesNotExist:
        raise Http404(_("No such project.")) from None
    check(user, project, need)
    return project


def visible_projects(user):
    return Project.objects.visible_to(user)
