from django.core.management.base import BaseCommand, CommandError

from portal.accounts.actions import create_token
from portal.accounts.models import User


class Command(BaseCommand):
    help = "Print a new API token for USERNAME (for admins and scripts)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="issued from the command line")

    def handle(self, *args, username: str, name: str, **options) -> None:
        try:
            user = User.objects.get(username=username)
        except User.DoesNotExist:
            raise CommandError(f"no user {username!r}") from None
        _, key = create_token(user, name)
        self.stdout.write(key)
