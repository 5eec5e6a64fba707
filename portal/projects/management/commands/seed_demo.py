from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from portal.accounts.models import User
from portal.projects import actions
from portal.projects.models import Project


class Command(BaseCommand):
    help = (
        "Create the local demo: admin/admin, demo/demo and the active project 'demo' (embedded default only)."
    )

    def handle(self, *args, **options) -> None:
        if not settings.TALLER_EMBEDDED:
            raise CommandError("the demo accounts exist only on the embedded default (DATABASE_URL unset)")
        with transaction.atomic():
            admin = self._user("admin", is_staff=True, is_superuser=True)
            demo = self._user("demo")
            project = Project.objects.filter(slug="demo").first()
            if project is None:
                project = actions.register_project(
                    demo,
                    slug="demo",
                    name="Demo project",
                    description="A project to try Taller with.",
                    principal_investigator="Demo PI",
                    field_of_research="Machine learning",
                )
            if project.status == Project.Status.PENDING:
                actions.approve_project(admin, project, "local demo")
        self.stdout.write(
            f"Demo ready at {settings.TALLER_PUBLIC_URL}/ : site admin admin/admin, researcher demo/demo, "
            "active project 'demo'."
        )

    @staticmethod
    def _user(username: str, **flags) -> User:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create_user(username, f"{username}@example.org", username, **flags)
        return user
