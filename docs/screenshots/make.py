"""Screenshots of the portal for the README: the dashboard, the submit form, a job page and a run
page, at a laptop's width (1366 px) and a phone's (390 px), saved as PNG beside this file.

    .venv/bin/python docs/screenshots/make.py

It starts everything it needs in a temporary folder, as `make run` would on the embedded default
(SQLite, an `mlflow server`, the web server), fills it with example data (the demo accounts, a few
jobs in each state, an MLflow run with metrics) and drives Debian's Chromium with Playwright.
Nothing outside the temporary folder and the PNG files is touched."""

import os
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
SIZES = {"1366": {"width": 1366, "height": 900}, "390": {"width": 390, "height": 844}}


def main() -> None:
    sys.path.insert(0, str(ROOT))
    var = Path(tempfile.mkdtemp(prefix="taller-screenshots-"))
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL"):
        os.environ.pop(name, None)  # the embedded default: SQLite and files under var
    os.environ.update(TALLER_VAR_DIR=str(var), DJANGO_SETTINGS_MODULE="portal.settings", DEBUG="true")
    import django
    from django.conf import settings

    django.setup()
    from tests.conftest import free_port, start_mlflow_server, wait_for_http

    mlflow_url, mlflow = start_mlflow_server(var / "mlflow")
    os.environ["MLFLOW_TRACKING_URI"] = settings.MLFLOW_TRACKING_URI = mlflow_url
    port = free_port()
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], check=True, cwd=ROOT)
    subprocess.run([*manage, "seed_demo"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    ids = example_data()
    web = subprocess.Popen(
        [*manage, "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{url}/accounts/login/", timeout=60, process=web)
        shoot(url, ids)
    finally:
        web.terminate()
        mlflow.terminate()
        web.wait(timeout=20)
        mlflow.wait(timeout=20)


def example_data() -> dict:
    """A running job, one that succeeded with its MLflow run, one that failed, one waiting."""
    from django.utils import timezone
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    from clusterjobs.models import Job, JobStatus, JobTransition
    from experiments import gateway
    from portal.accounts.models import User
    from portal.projects.models import Project

    demo, project = User.objects.get(username="demo"), Project.objects.get(slug="demo")
    now = timezone.now()
    experiment_id = gateway.ensure_experiment(project.slug, "digits")
    client = MlflowClient(tracking_uri=gateway.base_url())
    run = client.create_run(experiment_id, run_name="sgd-digits", tags={gateway.PROJECT_TAG: project.slug})
    metrics = []
    for epoch in range(1, 11):
        accuracy = 0.80 + 0.15 * (1 - 0.7**epoch)
        metrics += [
            Metric("train_accuracy", accuracy + 0.02, 0, epoch),
            Metric("test_accuracy", accuracy, 0, epoch),
            Metric("test_log_loss", 0.9 * 0.75**epoch, 0, epoch),
        ]
    client.log_batch(
        run.info.run_id, metrics=metrics, params=[Param("epochs", "10"), Param("learning_rate", "0.01")]
    )
    client.set_terminated(run.info.run_id)
    spec = {"image": "python:3.11-slim", "command": ["python", "-m", "examples.train", "--epochs", "10"]}
    rows = [
        ("resnet-50 fine-tune", JobStatus.RUNNING, 75, None, {"gpus": 2}),
        ("sgd-digits", JobStatus.SUCCEEDED, 180, 171, {"mlflow_run_id": run.info.run_id}),
        ("bert-small", JobStatus.FAILED, 300, 296, {"exit_code": 1, "status_reason": "exit code 1"}),
        (
            "sweep trial 7",
            JobStatus.QUEUED,
            None,
            None,
            {"status_reason": "waiting for quota: 2 GPUs in use of 2"},
        ),
    ]
    jobs = {}
    for name, status, started, finished, extra in rows:
        if extra.get("mlflow_run_id"):
            extra["mlflow_experiment_id"] = experiment_id
        job = Job.objects.create(
            project=project,
            submitter=demo,
            name=name,
            status=status,
            created_at=now - timedelta(minutes=(started or 2) + 1),
            started_at=now - timedelta(minutes=started) if started else None,
            finished_at=now - timedelta(minutes=finished) if finished else None,
            backend="local",
            **spec,
            **extra,
        )
        JobTransition.objects.create(job=job, to_status=status, reason=extra.get("status_reason", ""))
        jobs[name] = job.pk
    return {"job": jobs["sgd-digits"], "run": run.info.run_id, "project": project.slug}


def shoot(url: str, ids: dict) -> None:
    from playwright.sync_api import sync_playwright

    pages = {
        "dashboard": "/",
        "submit": f"/projects/{ids['project']}/jobs/new/",
        "job": f"/jobs/{ids['job']}/",
        "run": f"/projects/{ids['project']}/runs/{ids['run']}/",
    }
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        for size, viewport in SIZES.items():
            page = browser.new_page(viewport=viewport)
            page.goto(f"{url}/accounts/login/")
            page.get_by_label("Username").fill("demo")
            page.get_by_label("Password").fill("demo")
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{url}/")
            for name, path in pages.items():
                page.goto(f"{url}{path}")
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(OUT / f"{name}-{size}.png"), full_page=True)
                print(f"docs/screenshots/{name}-{size}.png")
            page.close()
        browser.close()


if __name__ == "__main__":
    main()
