"""Audit events the audit tests share: three of genomics, one of another project, one of no project."""

from portal.projects.actions import record
from tests.factories import ProjectFactory


def make_events(personas) -> list:
    """Three events of genomics, one of another project, one of no project (a personal token)."""
    other = ProjectFactory(slug="physics", name="Physics")
    made = [
        record(personas.bob, personas.project, "job.submit", "train", target="job 41"),
        record(personas.bob, personas.project, "job.cancel", "train", target="job 41"),
        record(
            personas.alice,
            personas.project,
            "webhook.create",
            "chat to hooks.example.org",
            target="webhook 3",
        ),
        record(personas.charlie, other, "job.submit", "secret-physics-job", target="job 99"),
        record(personas.charlie, None, "token.create", "laptop", target="token abc"),
    ]
    return made
