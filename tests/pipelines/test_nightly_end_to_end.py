"""The nightly pipeline of examples/ end to end, as a group would use it: defined in one YAML
(prepare, three trainings with different seeds, evaluate, register the best model in MLflow
through the portal's tracking proxy with each job's token), run from the `taller` command,
scheduled nightly from it, an email and a signed webhook when a run ends. Everything is real: the
portal (live server), a Celery worker consuming the periodic queue too, a `celery beat` process
with the project's beat schedule (the schedule tick every second here), the watcher, mlflow
server, the local executor. The one controlled thing is the clock of the nightly schedule: its
next time is moved to now, as if 02:00 had come, and beat's tick starts the run."""

import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from click.testing import CliRunner
from django.core import mail
from django.utils import timezone

from clusterjobs.backends import get_backend
from pipelines.models import PipelineRun, Schedule
from portal.accounts.actions import create_token
from taller_cli.main import cli
from tests.clusterjobs.watching import Watcher, wait_for

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "nightly_pipeline.yaml"


@pytest.fixture
def worker_with_periodic(transactional_db):
    """A real Celery worker in this process consuming the default queue and beat's own."""
    from celery.contrib.testing.worker import start_worker
    from django.conf import settings

    from portal.celery import app

    app.control.purge()
    queues = [app.conf.task_default_queue, settings.TALLER_PERIODIC_QUEUE]
    with start_worker(
        app, pool="threads", concurrency=6, perform_ping_check=False, shutdown_timeout=30, queues=queues
    ) as worker:
        yield worker


@pytest.fixture
def beat(tmp_path):
    """`celery -A portal beat` as the Procfile runs it, with a one-second schedule tick."""
    env = {**os.environ, "TALLER_SCHEDULE_TICK_SECONDS": "1", "TALLER_NOTIFY_WAITS_SECONDS": "5"}
    log = (tmp_path / "beat.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "beat", "--loglevel", "INFO",
         "-s", str(tmp_path / "celerybeat-schedule")],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    yield tmp_path / "beat.log"
    process.terminate()
    process.wait(timeout=30)
    log.close()


@pytest.fixture
def watcher():
    watching = Watcher(get_backend("local"))
    yield watching
    watching.close()


@pytest.fixture
def receiver():
    """A webhook receiver on 127.0.0.1 (trusted for the test): the bodies it got."""
    calls = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            calls.append((self.headers.get("X-Taller-Signature"), body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", calls
    server.shutdown()


def taller(monkeypatch, user, *args: str) -> str:
    monkeypatch.setenv("TALLER_TOKEN", create_token(user, "cli")[1])
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, (args, result.stderr)
    return result.stdout


def ended(run_id: int) -> PipelineRun | None:
    run = PipelineRun.objects.get(pk=run_id)
    return run if run.is_finished() else None


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_nightly_pipeline_from_the_cli_scheduled_through_beat(
    personas, settings, mlflow_uri, live_server, worker_with_periodic, beat, watcher, receiver, tmp_path,
    monkeypatch,
):  # fmt: skip
    settings.TALLER_EXECUTOR = "local"
    settings.TALLER_JOB_TRACKING_URI = f"{live_server.url}/mlflow"  # jobs reach MLflow through the proxy
    settings.TALLER_LOCAL_POLL_SECONDS = 0.2
    settings.TALLER_WEBHOOK_TRUSTED_HOSTS = ["127.0.0.1"]
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("TALLER_URL", live_server.url)
    hook_url, calls = receiver

    taller(monkeypatch, personas.bob, "notifications", "set", "-p", "genomics", "--on-end")
    added = taller(
        monkeypatch, personas.alice, "webhook", "add", "-p", "genomics", hook_url, "--kind", "signed"
    )
    secret = added.splitlines()[1].rsplit(" ", 1)[1]

    taller(monkeypatch, personas.bob, "pipeline", "run", str(EXAMPLE))
    started = PipelineRun.objects.get()
    assert list(started.steps.values_list("name", flat=True)) == [
        "prepare", "train-1", "train-2", "train-3", "evaluate", "register",
    ]  # fmt: skip
    first = wait_for(lambda: ended(started.pk), 300, "the pipeline run to end")
    steps = {s.name: s for s in first.steps.select_related("job")}
    assert first.status == "succeeded", {n: (s.status, s.reason) for n, s in steps.items()}
    assert "best: train-" in steps["evaluate"].job.final_log
    assert "registered genomics.digits version 1" in steps["register"].job.final_log

    # The best training run's model is version 1 of genomics.digits in MLflow.
    api = f"{mlflow_uri}/api/2.0/mlflow"
    evaluate = requests.get(
        f"{api}/runs/get", params={"run_id": steps["evaluate"].job.mlflow_run_id}, timeout=10
    )
    best = {t["key"]: t["value"] for t in evaluate.json()["run"]["data"]["tags"]}["best_run_id"]
    trained = {steps[f"train-{i}"].job.mlflow_run_id for i in (1, 2, 3)}
    assert best in trained and len(trained) == 3
    version = requests.get(
        f"{api}/model-versions/get", params={"name": "genomics.digits", "version": "1"}, timeout=10
    ).json()["model_version"]
    assert version["run_id"] == best

    # Told when it ended: Bob's email, the signed webhook (both from the worker, with retries).
    subject = f"[genomics] pipeline digits-nightly run {first.pk}: succeeded"
    wait_for(lambda: any(m.subject == subject for m in mail.outbox), 60, "the email")
    wait_for(lambda: any(json.loads(b).get("pipeline_run") == first.pk for _s, b in calls), 60, "the webhook")
    signature, body = next((s, b) for s, b in calls if json.loads(b).get("pipeline_run") == first.pk)
    assert signature == "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert json.loads(body)["status"] == "succeeded"

    # Scheduled nightly from the command line; 02:00 comes; beat's tick starts the run.
    taller(monkeypatch, personas.bob, "schedule", "create", "-p", "genomics", "--pipeline",
           "digits-nightly", "--cron", "0 2 * * *", "--tz", "Europe/Madrid")  # fmt: skip
    schedule = Schedule.objects.get(pipeline__name="digits-nightly")
    madrid = ZoneInfo("Europe/Madrid")
    assert timezone.localtime(schedule.next_run_at, madrid).hour == 2
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=timezone.now())
    nightly = wait_for(
        lambda: PipelineRun.objects.filter(schedule=schedule).first(), 60, "beat to start the run"
    )
    nightly = wait_for(lambda: ended(nightly.pk), 300, "the scheduled run to end")
    assert nightly.status == "succeeded" and nightly.started_by == personas.bob
    schedule.refresh_from_db()
    assert (
        timezone.localtime(schedule.next_run_at, madrid).hour == 2 and schedule.next_run_at > timezone.now()
    )
    assert "pipelines.tasks.tick_schedules" in beat.read_text()  # sent by beat, not called here
    version = requests.get(
        f"{api}/model-versions/get", params={"name": "genomics.digits", "version": "2"}, timeout=10
    ).json()["model_version"]
    assert version["run_id"] in {
        s.job.mlflow_run_id for s in nightly.steps.select_related("job") if s.name.startswith("train")
    }
    subject = f"[genomics] pipeline digits-nightly run {nightly.pk}: succeeded"
    wait_for(lambda: any(m.subject == subject for m in mail.outbox), 60, "the scheduled run's email")
    wait_for(
        lambda: any(json.loads(b).get("pipeline_run") == nightly.pk for _s, b in calls), 60, "its webhook"
    )
