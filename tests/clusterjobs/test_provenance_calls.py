"""No provenance page or fragment waits on MLflow for more than one call: the requests that
reach the session's real ``mlflow server`` are counted at the transport (every HTTP request the
MLflow client and the gateway send goes through ``requests``' adapter), with the scope caches
cold, so that a lookup the cache usually answers is counted too."""

from urllib.parse import urlsplit

import pytest
import requests
from django.conf import settings
from django.core.cache import cache

from .provenance_setup import made_job
from .test_provenance import pages, parts

pytestmark = pytest.mark.django_db


@pytest.fixture
def mlflow_calls(monkeypatch):
    """The list of MLflow addresses requested since the fixture started (or last cleared)."""
    seen: list[str] = []
    send = requests.adapters.HTTPAdapter.send

    def counting(adapter, request, *args, **kwargs):
        if urlsplit(request.url).netloc == urlsplit(settings.MLFLOW_TRACKING_URI).netloc:
            seen.append(urlsplit(request.url).path)
        return send(adapter, request, *args, **kwargs)

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", counting)
    return seen


def test_each_page_and_fragment_makes_at_most_one_mlflow_call(personas, mlflow_uri, mlflow_calls):
    made = made_job(personas.project, personas.bob, mlflow_uri=mlflow_uri)
    assert mlflow_calls  # the counter sees the real server's traffic
    vera = personas.client("vera")
    addresses = {
        **pages(made),
        **{f"{kind} fragment": address for kind, address in parts(made).items()},
        **{f"{kind} fragment (htmx)": address for kind, address in parts(made).items()},
    }
    for kind, address in addresses.items():
        cache.clear()
        mlflow_calls.clear()
        headers = {"HX-Request": "true"} if "htmx" in kind else {}
        response = vera.get(address, headers=headers)
        assert response.status_code == 200, kind
        assert len(mlflow_calls) <= 1, (kind, mlflow_calls)
    cache.clear()
