"""API test helpers: a Django test client that authenticates with a real portal API token."""

import pytest
from django.test import Client

from portal.accounts.actions import create_token


class TokenClient(Client):
    """Sends ``Authorization: Token <key>`` and JSON bodies, as scripts and the CLI do."""

    def __init__(self, key: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.key = key

    def request(self, **request):
        if self.key is not None:
            request.setdefault("HTTP_AUTHORIZATION", f"Token {self.key}")
        return super().request(**request)

    def post(self, path, data=None, content_type="application/json", **extra):
        return super().post(path, data, content_type=content_type, **extra)

    def patch(self, path, data=None, content_type="application/json", **extra):
        return super().patch(path, data, content_type=content_type, **extra)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """The personas' passwords need no strength here; PBKDF2 would make each test seconds slower."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def api(personas):
    """``api("alice")`` is a client with a fresh token of alice; ``api(None)`` sends no credentials."""

    def make(who: str | None, **token_kwargs) -> TokenClient:
        if who is None:
            return TokenClient()
        _token, key = create_token(getattr(personas, who), "test", **token_kwargs)
        return TokenClient(key)

    return make
