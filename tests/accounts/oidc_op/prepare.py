"""Set up the test provider: database, signing key, the portal as a client, and its users.

Run as ``python -m tests.accounts.oidc_op.prepare PORTAL_URL`` with the provider's settings.
"""

import io
import sys

import django
from django.core.management import call_command


def main(portal_url: str) -> None:
    django.setup()
    from django.contrib.auth.models import Group, User
    from oidc_provider.models import Client, ResponseType

    call_command("migrate", verbosity=0)
    call_command("creatersakey", stdout=io.StringIO())
    client = Client.objects.create(
        name="Taller",
        client_id="taller-portal",
        client_secret="s3cret",
        client_type="confidential",
        require_consent=False,
        reuse_consent=True,
        jwt_alg="RS256",
    )
    client.redirect_uris = [f"{portal_url}/oidc/callback/"]
    client.post_logout_redirect_uris = [f"{portal_url}/accounts/login/"]
    client.scope = ["openid", "email", "profile"]
    client.save()
    client.response_types.add(ResponseType.objects.get(value="code"))

    people = [
        ("ines", "ines@uni.example", "Inés", "García", True),
        ("mallory", "admin@uni.example", "Mallory", "Example", False),
    ]
    unverified = Group.objects.create(name="unverified-email")
    for username, email, first, last, verified in people:
        user = User.objects.create_user(username, email, "pw-" + username, first_name=first, last_name=last)
        if not verified:
            user.groups.add(unverified)


if __name__ == "__main__":
    main(sys.argv[1])
