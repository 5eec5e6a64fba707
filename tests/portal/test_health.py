"""/healthz for probes: 200 when the database, the broker and MLflow answer, 503 when one does not."""

import pytest
from django.urls import reverse

from tests.conftest import free_port

pytestmark = pytest.mark.django_db


def test_all_up(client, mlflow_uri):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok", "mlflow": "ok"}
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
