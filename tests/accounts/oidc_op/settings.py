"""A complete OpenID provider for the sign-in tests: django-oidc-provider in a Django site of its own.

It runs as a separate process on 127.0.0.1 with its own SQLite database (TALLER_TEST_OP_DIR) and
publishes discovery, authorization with a real login form, token, userinfo, JWKS and end-session.
"""

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
STATE_DIR = Path(os.environ["TALLER_TEST_OP_DIR"])

SECRET_KEY = "test-openid-provider-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "oidc_provider",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "tests.accounts.oidc_op.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [HERE / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ]
        },
    }
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": STATE_DIR / "provider.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
USE_TZ = True
LOGIN_URL = "/login/"

SITE_URL = os.environ["TALLER_TEST_OP_URL"]  # the issuer is SITE_URL + "/openid"
OIDC_USERINFO = "tests.accounts.oidc_op.claims.userinfo"
OIDC_IDTOKEN_PROCESSING_HOOK = "tests.accounts.oidc_op.claims.provider_clock"
