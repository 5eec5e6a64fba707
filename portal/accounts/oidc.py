"""University single sign-on: users are matched by email and created on first login."""

from mozilla_django_oidc.auth import OIDCAuthenticationBackend


class UniversityOIDCBackend(OIDCAuthenticationBackend):
    def create_user(self, claims):
        user = super().create_user(claims)
        return self._update_names(user, claims)

    def update_user(self, user, claims):
        return self._update_names(user, claims)

    def get_username(self, claims) -> str:
        preferred = claims.get("preferred_username") or claims.get("email", "").split("@")[0]
        return preferred or super().get_username(claims)

    @staticmethod
    def _update_names(user, claims):
        user.first_name = claims.get("given_name", user.first_name)[:150]
        user.last_name = claims.get("family_name", user.last_name)[:150]
        user.save(update_fields=["first_name", "last_name"])
        return user
