"""/healthz for probes: 200 when the database, the broker and MLflow answer and the static files
manifest is loaded, 503 when one is not."""

import json

import pytest
from django.urls import reverse

from tests.conftest import free_port

pytestmark = pytest.mark.django_db


def test_all_up(client, mlflow_uri):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "broker": "ok",
        "mlflow": "ok",
        "static": "ok",
    }
    assert "no-cache" in response["Cache-Control"]


def test_mlflow_unreachable(client, settings):
    settings.MLFLOW_TRACKING_URI = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["mlflow"].startswith("down: ConnectionError")
    assert body["database"] == "ok" and body["broker"] == "ok"


def test_broker_down(client, settings, mlflow_uri):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    body = response.json()
    assert body["broker"].startswith("down: ")
    assert body["mlflow"] == "ok" and body["database"] == "ok"


def test_filesystem_broker_needs_its_folder(client, settings, mlflow_uri, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(tmp_path / "missing"),
        "data_folder_out": str(tmp_path / "missing"),
    }
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert "broker folder" in response.json()["broker"]
    (tmp_path / "missing").mkdir()
    assert client.get(reverse("healthz")).status_code == 200


MANIFEST_STORAGE = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}


def test_missing_static_manifest(client, settings, mlflow_uri, tmp_path):
    """With DEBUG off every page names its assets through the manifest: without one they answer 500."""
    settings.STATIC_ROOT = tmp_path / "staticfiles"  # nothing collected there
    settings.STORAGES = {**settings.STORAGES, "staticfiles": MANIFEST_STORAGE}
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    body = response.json()
    assert body["static"].startswith("down: FileNotFoundError: no static files manifest was loaded from ")
    assert str(tmp_path / "staticfiles" / "staticfiles.json") in body["static"]
    assert body["database"] == body["broker"] == body["mlflow"] == "ok"


def test_static_manifest_loaded(client, settings, mlflow_uri, tmp_path):
    (tmp_path / "staticfiles").mkdir()
    manifest = {"version": "1.1", "hash": "0", "paths": {"css/taller.css": "css/taller.0123456789ab.css"}}
    (tmp_path / "staticfiles" / "staticfiles.json").write_text(json.dumps(manifest))
    settings.STATIC_ROOT = tmp_path / "staticfiles"
    settings.STORAGES = {**settings.STORAGES, "staticfiles": MANIFEST_STORAGE}
    response = client.get(reverse("healthz"))
    assert response.status_code == 200 and response.json()["static"] == "ok"
