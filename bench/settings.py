"""The portal's settings, production-like, with the bench's baseline views mounted (bench/urls.py)."""

import secrets
import warnings

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
DEBUG = False
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "ERROR"}}
# The throttle runs as in production, with a history of its own in each run.
for _cache in CACHES.values():  # noqa: F405
    _cache["KEY_PREFIX"] = "taller-bench-" + secrets.token_hex(4)
# The bench serves no static files; whitenoise need not warn that it has none.
warnings.filterwarnings("ignore", message="No directory at")
