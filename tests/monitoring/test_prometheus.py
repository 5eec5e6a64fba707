"""The monitoring files shipped in docs/monitoring/ against the real thing: Debian's Prometheus
scrapes a live portal with the example scrape config and answers a PromQL query for a job count;
promtool checks the alert rules and the exposition; every metric the alerts and the Grafana
dashboard name is one /metrics exposes."""

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
import requests
import yaml
from django.test import Client

from clusterjobs.models import JobStatus
from experiments import gateway
from portal import observe
from tests.clusterjobs.factories import JobFactory
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "docs" / "monitoring"
TOKEN = "prometheus-scrape-token-42"


def rules() -> list[dict]:
    return [
        rule
        for group in yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"]
        for rule in group["rules"]
    ]


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def metric_names(expression: str) -> set[str]:
    return set(re.findall(r"\btaller_[a-z_]+\b", expression))


def test_alert_rules_pass_promtool():
    result = subprocess.run(
        ["promtool", "check", "rules", str(MONITORING / "alerts.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout
    names = {rule["alert"] for rule in rules()}
    assert {
        "TallerPortalDown",
        "TallerQueueStuck",
        "TallerWatcherLagging",
        "TallerBudgetNearlySpent",
    } <= names


@pytest.mark.django_db
def test_dashboard_and_alerts_name_only_exposed_metrics(personas, settings):
    settings.TALLER_METRICS_ALLOWED_ADDRESSES = ["127.0.0.1"]
    settings.TALLER_METRICS_TOKEN = ""
    JobFactory(project=personas.project, submitter=personas.bob, status=JobStatus.QUEUED)
    observe.watcher_started("kubernetes")
    observe.watcher_applied("kubernetes", 3.0)
    with pytest.raises(gateway.GatewayError):
        settings.MLFLOW_TRACKING_URI = f"http://127.0.0.1:{free_port()}"
        gateway.send("GET", "api/2.0/mlflow/experiments/search")
    text = Client().get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    exposed = {
        line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")
    }

    expressions = dashboard_expressions()
    assert len(expressions) >= 10
    named = set().union(*(metric_names(expression) for expression in expressions))
    named_by_alerts = set().union(*(metric_names(rule["expr"]) for rule in rules()))
    assert named and named_by_alerts
    assert named - exposed == set()
    assert named_by_alerts - exposed == set()

    # promtool lints the exposition as Prometheus reads it.
    lint = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def prometheus_config(tmp_path: Path, target: str) -> Path:
    """The shipped example, pointed at the live portal and scraping every second."""
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(MONITORING / "alerts.yml")]
    (scrape,) = config["scrape_configs"]
    scrape["static_configs"] = [{"targets": [target]}]
    token_file = tmp_path / "taller-metrics-token"
    token_file.write_text(TOKEN + "\n")
    scrape["authorization"]["credentials_file"] = str(token_file)
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def query(base: str, expression: str) -> list[dict]:
    answer = requests.get(f"{base}/api/v1/query", params={"query": expression}, timeout=10).json()
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_prometheus_scrapes_the_live_portal(personas, live_server, settings, tmp_path):
    settings.TALLER_METRICS_ALLOWED_ADDRESSES = ["127.0.0.1"]
    settings.TALLER_METRICS_TOKEN = TOKEN
    for _ in range(3):
        JobFactory(project=personas.project, submitter=personas.bob, status=JobStatus.QUEUED)
    JobFactory(project=personas.project, submitter=personas.bob, status=JobStatus.RUNNING)

    config = prometheus_config(tmp_path, live_server.url.removeprefix("http://"))
    checked = subprocess.run(
        ["promtool", "check", "config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        result, targets = [], []
        while time.monotonic() < deadline and not result:
            assert process.poll() is None, (tmp_path / "prometheus.log").read_text()[-3000:]
            try:
                result = query(base, 'taller_jobs{project="genomics", status="queued"}')
            except requests.RequestException:
                pass
            time.sleep(0.5)
        assert result, (tmp_path / "prometheus.log").read_text()[-3000:]
        assert result[0]["value"][1] == "3"
        assert query(base, 'sum(taller_jobs{status=~"queued|running"})')[0]["value"][1] == "4"
        targets = requests.get(f"{base}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
        assert [target["health"] for target in targets] == ["up"]
        # The alert rules load and evaluate against these series.
        groups = requests.get(f"{base}/api/v1/rules", timeout=10).json()["data"]["groups"]
        loaded = [rule for group in groups for rule in group["rules"]]
        assert len(loaded) == len(rules())
        assert all(rule["health"] in ("ok", "unknown") for rule in loaded), loaded
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
