"""Health of the services the portal needs, for load balancers and probes: one bounded call each."""

from pathlib import Path

import requests
from django.conf import settings
from django.db import connection


def database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def broker() -> None:
    from portal.celery import app

    with app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=2)
        if conn.transport_cls == "filesystem":
            folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
            if not folder.is_dir():
                raise ConnectionError(f"broker folder {folder} is missing")


def mlflow() -> None:
    response = requests.get(f"{settings.MLFLOW_TRACKING_URI.rstrip('/')}/health", timeout=2)
    response.raise_for_status()


def static() -> None:
    """With DEBUG off, every page names its CSS and scripts through the static files manifest that
    this process loaded when it started: without one, each page answers 500 while the rest is up."""
    from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage

    if isinstance(staticfiles_storage, ManifestFilesMixin) and not staticfiles_storage.hashed_files:
        manifest = Path(staticfiles_storage.location) / staticfiles_storage.manifest_name
        raise FileNotFoundError(
            f"no static files manifest was loaded from {manifest}: run collectstatic, then restart"
        )


CHECKS = {"database": database, "broker": broker, "mlflow": mlflow, "static": static}


def report() -> tuple[bool, dict[str, str]]:
    states = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as error:  # noqa: BLE001 - any failure is a "down" to a probe
            states[name] = f"down: {type(error).__name__}: {error}"[:300]
        else:
            states[name] = "ok"
    return all(state == "ok" for state in states.values()), states
