"""What a token may reach through the tracking proxy, and how a refusal is answered.

``Scope`` asks ``portal/projects/access.py`` (the same rules as the pages and the API); an MLflow
object's project comes from the gateway (its experiment's ``taller.project`` tag, cached).
``Call`` is one request being checked; ``proxy_policy`` says what each route checks.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _

from portal.projects import access
from portal.projects.access import Need
from portal.projects.models import Project

from . import gateway


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def not_found(message: str | None = None) -> Refused:
    return Refused(404, "RESOURCE_DOES_NOT_EXIST", message or _("Not found, or not yours to see."))


def bad(message: str) -> Refused:
    return Refused(400, "INVALID_PARAMETER_VALUE", message)


@dataclass
class Scope:
    """What one token may reach: what ``portal/projects/access.py`` lets its user see, narrowed to
    the token's one project for a job's token; the user's level in each, looked up once a request."""

    user: object
    project_id: int | None
    _projects: dict[str, Project | None] = field(default_factory=dict)

    def _project(self, slug: str) -> Project | None:
        if slug not in self._projects:
            self._projects[slug] = access.find_project(slug, only=self.project_id, user=self.user)
        return self._projects[slug]

    def project(self, slug: str) -> Project | None:
        """The project of ``slug`` as this token reaches it (looked up once a request)."""
        return self._project(slug)

    def level(self, slug: str) -> int:
        project = self._project(slug)
        return access.level_of(self.user, project) if project is not None else 0

    def require(self, slug: str, need: Need) -> None:
        """access.check, answered as MLflow would: a 404 for what the token may not see, a 403 for
        what it sees but may not do."""
        project = self._project(slug)
        if project is None:
            raise not_found()
        try:
            access.check(self.user, project, need)
        except Http404:
            raise not_found() from None
        except PermissionDenied:
            raise Refused(
                403, "PERMISSION_DENIED", _("Your role in this project does not allow this.")
            ) from None

    def visible(self) -> set[str]:
        """Slugs of every project this token may read."""
        return set(access.visible_to(self.user, only=self.project_id).values_list("slug", flat=True))


@dataclass
class Call:
    request: HttpRequest
    scope: Scope
    route: "Route"
    params: dict  # the request's message, rebuilt from what was checked (proto field names)
    path: dict[str, str] = field(default_factory=dict)  # the route's path parameters (a logged model id)
    slug: str | None = None  # the one project a write touches, once known
    check_response: Callable[[dict], dict | None] | None = None  # narrows or checks the answer
    # (kind, id) of each object the message names, as read (proxy_parse.Found); see authorize
    references: list[tuple[str, str]] = field(default_factory=list)

    def claim(self, slug: str) -> None:
        """The request touches ``slug``: the token needs the route's role there, and a write
        touches one project only (so nothing of one project is tied to another's objects)."""
        self.scope.require(slug, self.route.need)
        if self.route.need < Need.CHANGE:
            return
        if self.slug is None:
            self.slug = slug
        elif self.slug != slug:
            raise bad(_("Everything one request names must belong to one project."))


@dataclass(frozen=True)
class Route:
    """One proxied MLflow route: the role it needs, the fields that must name its object, and
    its own rule (names, prefixes, narrowing), run before every object it names is checked."""

    need: Need
    required: tuple[str, ...] = ()
    rule: Callable[[Call], None] | None = None


_EXPERIMENT_ID = re.compile(r"0|[1-9][0-9]{0,18}")  # MLflow's, as it writes them (ASCII, no leading 0)


def project_of(kind: str, value: str) -> str:
    if kind == "experiment":
        if not _EXPERIMENT_ID.fullmatch(value) or int(value) >= 2**63:
            raise not_found()
        return _gateway(gateway.experiment_project, value)
    if not gateway.looks_like_id(value):
        raise not_found()
    if kind == "run":
        return _gateway(gateway.run_project, value)[0]
    return _gateway(gateway.logged_model_project, value)


def _gateway(function, *args):
    try:
        return function(*args)
    except gateway.GatewayError as error:
        if error.status == 404:
            raise not_found() from error
        if error.status == 400:
            raise bad(str(error)) from error
        raise Refused(502, "TEMPORARILY_UNAVAILABLE", str(error)) from error


def artifact_experiment(path: str) -> str:
    """The experiment id an artifact path is under (its first part); refuses escapes.

    The path arrives decoded once; it is decoded once more here, so that neither `..` nor
    `%2E%2E` (nor a backslash) can climb out of the experiment the check looked at.
    """
    path = unquote(path or "").strip("/")
    parts = path.split("/")
    if not path or ".." in parts or "\\" in path or "\x00" in path:
        raise bad(_("Artifact paths are relative and may not contain '..'."))
    if not _EXPERIMENT_ID.fullmatch(parts[0]):
        raise not_found()
    return parts[0]
