"""A job with its whole trail in the session's real MLflow: a git source on a forge, an image digest,
a run made by the real ``clusterjobs.runs`` (with the source tags), parameters, a dataset input as
DVC work logs it (``log_input``) and a registered model version from the run."""

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone
from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag

from clusterjobs import runs
from clusterjobs.models import Job, JobStatus
from experiments import gateway

from .factories import JobFactory

COMMIT = "0123456789abcdef0123456789abcdef01234567"
DIGEST = "sha256:" + "ab" * 32
REPOSITORY = "git@github.com:lab/genomics-train.git"


@dataclass
class Made:
    job: Job
    run_id: str
    model: str  # full name
    version: str


def made_job(
    project, submitter, *, name: str = "train", model: str = "classifier", mlflow_uri: str = ""
) -> Made:
    started = timezone.now() - timedelta(hours=2)
    job = JobFactory(
        project=project,
        submitter=submitter,
        name=name,
        status=JobStatus.SUCCEEDED,
        image="python:3.11-slim",
        image_digest=f"docker.io/library/python@{DIGEST}",
        command=["python", "train.py", "--epochs", "3"],
        gpus=1,
        source={"git": REPOSITORY, "ref": "main", "commit": COMMIT},
        created_at=started - timedelta(minutes=5),
        started_at=started,
        finished_at=started + timedelta(hours=1, minutes=30),
        mlflow_experiment_id=gateway.ensure_experiment(project.slug, "default"),
        backend="local",
    )
    runs.start_run(job, started, retried=False)  # ended already: the run is finished with it
    job.refresh_from_db()
    client = MlflowClient(tracking_uri=mlflow_uri) if mlflow_uri else MlflowClient()
    client.log_param(job.mlflow_run_id, "epochs", "3")
    client.log_param(job.mlflow_run_id, "lr", "0.01")
    dataset = Dataset(
        name="cells.csv",
        digest="d41d8cd98f00b204e9800998ecf8427e",
        source_type="dvc",
        source='{"path": "data/cells.csv", "remote": "s3://lab/dvc"}',
    )
    client.log_inputs(
        job.mlflow_run_id, datasets=[DatasetInput(dataset, [InputTag("mlflow.data.context", "training")])]
    )
    full = gateway.model_name(project.slug, model)
    version = gateway.register_version(
        project.slug,
        full,
        f"runs:/{job.mlflow_run_id}/model",
        job.mlflow_run_id,
        tags={gateway.JOB_TAG: str(job.pk)},
    )
    return Made(job=job, run_id=job.mlflow_run_id, model=full, version=str(version["version"]))
