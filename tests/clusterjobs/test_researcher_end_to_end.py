"""The researcher's path, every part real, on the embedded default: a git repository of their own
(a bare repository served over HTTP by a real git server) with a small scikit-learn training script
that reads a CSV tracked by DVC; the project's DVC remote (the portal's own folder) set by the
owner through its page and the data pushed there with `dvc push`. Then, in Chromium, a member
submits the job from the form with the git source and the DVC target, a real Celery worker and the
watcher run it on the local executor against the session's `mlflow server`; the run's page shows
the commit and the data version (md5); the model is registered from the run's page; from the
model version's page the job is reproduced, and the reproduction runs the same commit and data
version, the two runs naming each other."""

import hashlib
import json
import re
from pathlib import Path

import pytest
import requests
import yaml
from django.core.cache import cache
from playwright.sync_api import expect

from clusterjobs.models import Job, JobStatus
from tests.experiments.test_browser import _log_in

from .dvcrepo import DvcRepo, dvc
from .gitserver import GitServer, git
from .test_end_to_end import watcher  # noqa: F401 - the watch_jobs loop, as a fixture
from .watching import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROWS = [(0.1, 0), (0.4, 0), (0.9, 0), (1.3, 0), (2.2, 1), (2.6, 1), (3.1, 1), (3.7, 1)]
CSV = "x,y\n" + "".join(f"{x},{y}\n" for x, y in ROWS)
TRAIN = """import csv

import mlflow
import mlflow.sklearn
from sklearn.linear_model import LogisticRegression

with open("data/train.csv") as handle:
    rows = list(csv.DictReader(handle))
x = [[float(row["x"])] for row in rows]
y = [int(row["y"]) for row in rows]
model = LogisticRegression(C=1.0).fit(x, y)
with mlflow.start_run():
    mlflow.log_param("C", "1.0")
    mlflow.log_metric("train_accuracy", model.score(x, y))
    mlflow.sklearn.log_model(model, name="model")
print("trained on", len(rows), "rows")
"""


def make_repository(root: Path, server: GitServer) -> DvcRepo:
    """A bare repository ``lab-train`` whose one commit holds the script and the CSV's .dvc file."""
    bare, work = root / "lab-train.git", root / "lab-train-work"
    git("init", "-q", "--bare", "-b", "main", str(bare))
    git("init", "-q", "-b", "main", str(work))
    dvc("init", "-q", cwd=work)
    (work / "data").mkdir()
    (work / "data" / "train.csv").write_text(CSV)
    (work / "train.py").write_text(TRAIN)
    dvc("add", "data/train.csv", cwd=work)
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "training script and its data", cwd=work)
    git("remote", "add", "origin", str(bare), cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    tracked = yaml.safe_load((work / "data" / "train.csv.dvc").read_text())["outs"][0]
    assert tracked["md5"] == hashlib.md5(CSV.encode()).hexdigest()
    return DvcRepo(
        url=server.url("lab-train"),
        commit=git("rev-parse", "HEAD", cwd=work),
        work=work,
        pins={"data/train.csv": {"md5": tracked["md5"], "size": tracked["size"]}},
    )


@pytest.fixture
def researcher_git(tmp_path, settings):
    root = tmp_path / "forge"
    root.mkdir()
    server = GitServer(root).start()
    settings.TALLER_GIT_TRUSTED_HOSTS = [*settings.TALLER_GIT_TRUSTED_HOSTS, server.host]
    try:
        yield server, make_repository(root, server)
    finally:
        server.stop()


def ended(pk: int) -> Job:
    return wait_for(lambda: Job.objects.get(pk=pk).is_terminal() and Job.objects.get(pk=pk), 300, "the job")


def mlflow_run(mlflow_uri: str, run_id: str) -> dict:
    answer = requests.get(f"{mlflow_uri}/api/2.0/mlflow/runs/get", params={"run_id": run_id}, timeout=10)
    return answer.json()["run"]


def tags_of(run: dict) -> dict:
    return {t["key"]: t["value"] for t in run["data"].get("tags", [])}


def datasets_of(run: dict) -> dict:
    return {i["dataset"]["name"]: i["dataset"] for i in run.get("inputs", {}).get("dataset_inputs", [])}


@pytest.mark.usefixtures("watcher")
def test_a_researcher_trains_from_git_and_dvc_registers_and_reproduces_from_the_browser(
    page, live_server, personas, settings, mlflow_uri, celery_worker, researcher_git
):
    cache.clear()
    settings.TALLER_EXECUTOR = "local"
    settings.TALLER_JOB_TRACKING_URI = mlflow_uri
    settings.TALLER_LOCAL_POLL_SECONDS = 0.2
    server, repo = researcher_git
    md5 = repo.pins["data/train.csv"]["md5"]

    # The owner names the project's DVC remote on its page: the portal's own folder.
    _log_in(page, live_server, personas.alice)
    page.goto(f"{live_server.url}/projects/genomics/dvc-remote/")
    page.locator("#id_kind").select_option("local")
    page.locator("#remote-form button[type=submit]").click()
    expect(page.locator("#remote-address")).to_be_visible()
    folder = page.locator("#remote-address").inner_text()
    assert folder == str(Path(settings.VAR_DIR) / "dvc" / "genomics")
    repo.push(folder)  # the researcher's `dvc push` to it

    # A member submits their training from the form: the git repository and the DVC target.
    page.context.clear_cookies()
    _log_in(page, live_server, personas.bob)
    page.goto(f"{live_server.url}/projects/genomics/jobs/new/")
    page.locator("#id_name").fill("lab training")
    page.locator("#id_command").fill("python train.py")
    page.locator("#id_source_git").fill(server.url("lab-train"))
    page.locator("#id_source_ref").fill("main")
    page.locator("#id_source_dvc").fill("data/train.csv")
    page.locator("#id_time_limit_minutes").fill("10")
    page.locator("#job-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    original = ended(int(page.url.rstrip("/").rsplit("/", 1)[1]))
    assert original.status == JobStatus.SUCCEEDED, (original.status_reason, original.final_log)
    assert original.source["commit"] == repo.commit
    assert [(d["path"], d["md5"]) for d in original.source["data"]] == [("data/train.csv", md5)]
    assert "trained on 8 rows" in original.final_log

    # The run's page shows the commit and the data version.
    page.reload()
    page.locator("#mlflow-run").click()
    expect(page.locator("#tags")).to_contain_text(repo.commit)
    expect(page.locator("#run-datasets")).to_contain_text("data/train.csv")
    expect(page.locator("#run-datasets")).to_contain_text(md5)

    # The model is registered from the run's page; the version's page opens.
    page.locator("#register summary").click()
    page.locator("#register-name").fill("researcher-classifier")  # the session's MLflow is shared
    page.locator("#register-button").click()
    page.wait_for_url("**/models/researcher-classifier/versions/*/")
    expect(page.locator("h1")).to_contain_text("researcher-classifier")

    # The version's provenance walks back to the commit and the data; its own page reproduces it.
    version_page = page.url
    expect(page.locator("#source-job")).to_contain_text(f"Job {original.pk}")
    page.locator("#version-provenance").click()
    expect(page.locator("#code-commit")).to_contain_text(repo.commit)
    expect(page.locator("#data-versions")).to_contain_text(md5)
    expect(page.locator("#chain-job")).to_contain_text(f"job {original.pk}: lab training")
    page.goto(version_page)
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#reproduce-version").click()
    expect(page.locator("#job-reproduces")).to_contain_text(f"job {original.pk}")
    again = ended(int(page.url.rstrip("/").rsplit("/", 1)[1]))
    assert again.status == JobStatus.SUCCEEDED, (again.status_reason, again.final_log)
    assert again.reproduced_from_id == original.pk
    assert again.source["commit"] == original.source["commit"] == repo.commit
    assert again.source["data"] == original.source["data"]

    # Same commit and data version on both runs, and the runs name each other.
    old, new = mlflow_run(mlflow_uri, original.mlflow_run_id), mlflow_run(mlflow_uri, again.mlflow_run_id)
    assert tags_of(new)["mlflow.source.git.commit"] == tags_of(old)["mlflow.source.git.commit"] == repo.commit
    for run in (old, new):
        dataset = datasets_of(run)["data/train.csv"]
        assert dataset["digest"] == md5
        assert json.loads(dataset["profile"])["md5"] == md5
    assert tags_of(new)["taller.reproduced_from"] == original.mlflow_run_id
    wait_for(
        lambda: (
            tags_of(mlflow_run(mlflow_uri, original.mlflow_run_id)).get("taller.reproduced_by")
            == again.mlflow_run_id
        ),
        60,
        "the original run's reproduced_by tag",
    )

    # And the pages say so both ways.
    page.goto(f"{live_server.url}/jobs/{again.pk}/provenance/")
    expect(page.locator("#code-commit")).to_contain_text(repo.commit)
    expect(page.locator("#data-versions")).to_contain_text(md5)
    expect(page.locator("#reproduced-from")).to_contain_text(f"job {original.pk}")
    page.goto(f"{live_server.url}/jobs/{original.pk}/provenance/")
    expect(page.locator("#reproduced-by")).to_contain_text(f"job {again.pk}")
