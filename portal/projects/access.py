"""Who may see and change a project. Every page, API call, task and proxy call goes through here.

A project you cannot see is a 404 (its existence is not revealed); one you can see
but not change is a 403.
"""

from collections.abc import Callable
from enum import IntEnum
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from portal.accounts.models import SCOPE_ATTRIBUTE, scoped_project_id

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


def narrow(user, project_id: int | None) -> None:
    """Make this request's ``user`` reach one project alone (a project-scoped token): every
    check below, ``visible_to`` and the models' ``visible_to`` querysets then ignore the rest."""
    setattr(user, SCOPE_ATTRIBUTE, project_id)


def scope_of(user) -> int | None:
    """The project this request's user is narrowed to, or None (see ``narrow``)."""
    return scoped_project_id(user)


def level_of(user, project: Project) -> int:
    if not user.is_authenticated or not user.is_active:
        return 0
    only = scoped_project_id(user)
    if only is not None and project.pk != only:
        return 0
    if user.is_site_admin:
        return Need.MANAGE
    role = role_of(user, project)
    return _LEVEL[role] if role else 0


def can(user, project: Project, need: Need) -> bool:
    return level_of(user, project) >= need


def check(user, project: Project, need: Need, refusal: str | None = None) -> None:
    """404 when the user may not see the project, 403 when they see it but may not do this
    (saying ``refusal`` when given)."""
    level = level_of(user, project)
    if level < Need.VIEW:
        raise Http404(_("No such project."))
    if level < need:
        raise PermissionDenied(refusal or _("Your role in this project does not allow this."))


def find_project(slug: str, *, only: int | None = None, user=None) -> Project | None:
    """The project of a slug, or None; ``only`` narrows to one project (a job's token). With
    ``user``, the same query brings the user's role, which ``role_of`` then finds cached (a
    tracking call checks its scope in one query instead of two)."""
    # Anything that is not a slug (a NUL byte, say) names no project: no query needed.
    if not slug_validator.regex.fullmatch(slug or ""):
        return None
    projects = Project.objects.filter(slug=slug)
    if only is not None:
        projects = projects.filter(pk=only)
    if user is None or not user.is_authenticated:
        return projects.first()
    roles = Membership.objects.filter(project=OuterRef("pk"), user=user).values("role")[:1]
    project = projects.annotate(role_of_asker=Subquery(roles)).first()
    if project is not None:
        project.__dict__.setdefault("_roles", {})[user.pk] = project.role_of_asker
    return project


def get_project_for_user(user, slug: str, need: Need = Need.VIEW) -> Project:
    project = find_project(slug)
    if project is None:
        raise Http404(_("No such project."))
    check(user, project, need)
    return project


def visible_to(user, *, only: int | None = None) -> QuerySet:
    """The projects a user may see, narrowed to one project (a job's token) when ``only`` is set."""
    projects = Project.objects.visible_to(user)  # already narrowed by a project-scoped token
    return projects if only is None else projects.filter(pk=only)


class SiteAdminOnly(PermissionDenied):
    """Refused because only site admins may do this (no project role would allow it): the 403
    page then does not send the reader to a project owner."""


def require_site_admin(user, message: str | None = None) -> None:
    """A 403 (saying ``message``) unless the user is a site admin, and not narrowed to one project
    (what only site admins do spans every project)."""
    if not (user.is_authenticated and user.is_site_admin):
        raise SiteAdminOnly(message or _("Only site admins see this page."))
    if scoped_project_id(user) is not None:
        raise PermissionDenied(_("A token scoped to one project cannot do what spans every project."))


def require_unscoped(user) -> None:
    """A 403 for a request made with a project-scoped token: registering projects or managing
    tokens reaches beyond the one project such a token stands for."""
    if scoped_project_id(user) is not None:
        raise PermissionDenied(_("A token scoped to one project cannot do this."))


def site_admin_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed-in site admins only: others are sent to sign in (anonymous) or refused (403)."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        require_site_admin(request.user)
        return view(request, *args, **kwargs)

    return wrapped
