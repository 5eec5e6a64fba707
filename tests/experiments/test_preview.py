"""Text artifacts (the job's log the portal attaches, and the kinds training code writes) are
previewed on the run page, up to a size bound."""

import pytest
from mlflow import MlflowClient

from experiments import gateway

from .conftest import log_example

pytestmark = pytest.mark.slow
FILES = {
    "taller/job.log": "epoch 1 loss 0.5\nepoch 2 loss 0.25\n",
    "notes/summary.md": "# Results\nacc *0.9*\n",
    "config/params.yaml": "lr: 0.1\n",
    "metrics/table.csv": "step,acc\n1,0.5\n",
    "report.json": '{"acc": 0.9}',
    "src/train.py": "print('<script>hi</script>')\n",
}


@pytest.fixture
def logged(personas, physics, mlflow_uri):
    logged = log_example("genomics")
    client = MlflowClient(tracking_uri=gateway.base_url())
    for path, text in FILES.items():
        client.log_text(logged.run_id, text, path)
    return logged


@pytest.mark.parametrize("who, status", [("vera", 200), ("charlie", 404)])
def test_text_artifacts_are_previewed_escaped(personas, logged, who, status):
    client = personas.client(who)
    for path, text in FILES.items():
        answer = client.get(f"/projects/genomics/runs/{logged.run_id}/artifacts/preview/", {"path": path})
        assert answer.status_code == status, path
        if status == 200:
            html = answer.content.decode()
            assert '<pre class="log">' in html, path
            first_line = text.splitlines()[0].replace("'", "&#x27;").replace('"', "&quot;")
            assert first_line.replace("<", "&lt;").replace(">", "&gt;") in html, path
            assert "<script>hi" not in html


def test_a_large_log_is_not_previewed_but_downloads(personas, logged, settings):
    settings.TALLER_PREVIEW_MAX_BYTES = 10
    client = personas.client("vera")
    answer = client.get(
        f"/projects/genomics/runs/{logged.run_id}/artifacts/preview/", {"path": "taller/job.log"}
    )
    assert 'id="too-large"' in answer.content.decode() and "epoch 1" not in answer.content.decode()
    download = client.get(
        f"/projects/genomics/runs/{logged.run_id}/artifacts/download/", {"path": "taller/job.log"}
    )
    assert b"".join(download.streaming_content).decode() == FILES["taller/job.log"]
