"""The gateway's own calls to MLflow: bounded by MLFLOW_TIMEOUT_SECONDS, set up once, and leaving
the process environment to whoever else in the process uses MLflow's client."""

import os
import socket

import pytest

from experiments import gateway


def test_a_call_leaves_the_environment_alone(mlflow_uri, monkeypatch):
    """A stock MLflow client in the same process (a test, a notebook) keeps its own settings."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")

    gateway.ensure_experiment("physics", "gateway-env")

    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "30"
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "3"


@pytest.fixture
def silent_server():
    """A tracking address that accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def test_mlflow_clients_calls_are_bounded_by_the_setting(silent_server, settings):
    settings.MLFLOW_TRACKING_URI = silent_server
    settings.MLFLOW_TIMEOUT_SECONDS = 1

    with pytest.raises(gateway.GatewayError) as refused:
        gateway.ensure_experiment("physics", "never-answered")

    assert refused.value.retryable
    assert refused.value.status == 502
