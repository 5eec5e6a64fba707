"""What the test provider says about its users, and its clock."""

import json

from django.conf import settings


def userinfo(claims: dict, user) -> dict:
    """Standard claims from the user; an email is verified unless the user is in "unverified-email"."""
    claims.update(
        preferred_username=user.username,
        given_name=user.first_name,
        family_name=user.last_name,
        email=user.email,
        email_verified=not user.groups.filter(name="unverified-email").exists(),
    )
    return claims


def provider_clock(id_token: dict, **kwargs) -> dict:
    """A provider whose clock is off by the seconds in clock.json (0 unless a test writes it)."""
    path = settings.STATE_DIR / "clock.json"
    offset = json.loads(path.read_text())["offset"] if path.exists() else 0
    for claim in ("iat", "exp", "auth_time"):
        id_token[claim] += offset
    return id_token
