"""A job template as `taller submit --template NAME` uses it: found by title or id, and merged
under what the command line gave. Kept apart from the `taller templates` commands, which the
command group's own module registers."""

from typing import Any

from .client import Api, TallerError

MAX_TEMPLATES = 500


def find_template(client: Api, project: str, name: str) -> dict:
    """The project's template titled ``name`` (or of that id); TallerError naming the choices."""
    rows = client.pages(f"projects/{project}/templates/", limit=MAX_TEMPLATES)
    for row in rows:
        if row.get("title") == name or str(row.get("id")) == name:
            return row
    titles = ", ".join(f"“{row.get('title')}”" for row in rows) or "none"
    raise TallerError(f"project {project} has no template “{name}” (it has: {titles})")


def with_template(template: dict, body: dict[str, Any]) -> dict[str, Any]:
    """A job body started from ``template``: what the command line gave wins, the rest is the
    template's (its command only when none was given)."""
    merged = dict(body)
    merged["image"] = body.get("image") or template.get("image")
    merged["command"] = body.get("command") or template.get("command")
    merged["env"] = {**(template.get("env") or {}), **(body.get("env") or {})}
    merged["resources"] = {**(template.get("resources") or {}), **(body.get("resources") or {})}
    merged.setdefault("time_limit_minutes", template.get("time_limit_minutes"))
    if not body.get("source") and template.get("source"):
        merged["source"] = template["source"]
    if not body.get("name"):
        merged["name"] = template.get("title", "")[:100]
    return merged
