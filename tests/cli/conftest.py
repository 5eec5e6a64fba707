import pytest

from tests.clusterjobs.dvcrepo import _dvc_served, dvc_git  # noqa: F401 - a DVC project, served


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """The personas' passwords need no strength here; PBKDF2 would make each test seconds slower."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
