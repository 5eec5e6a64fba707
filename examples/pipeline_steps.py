"""The steps of examples/nightly_pipeline.yaml besides training (examples/train.py):

    python -m examples.pipeline_steps prepare
    python -m examples.pipeline_steps evaluate      # picks the best of its upstream training runs
    python -m examples.pipeline_steps register --model digits

Inside a Taller pipeline each step is a job with its own MLflow run (MLFLOW_RUN_ID, through the
portal's tracking proxy with the job's token in MLFLOW_TRACKING_TOKEN) and knows its upstream
steps' runs (UPSTREAM_RUN_IDS, UPSTREAM_<STEP>_RUN_ID), which is how results pass forward."""

import argparse
import json
import os
import sys

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sklearn.datasets import load_digits

METRIC = "test_accuracy"


def prepare() -> None:
    digits = load_digits()
    with mlflow.start_run():
        mlflow.log_params({"samples": len(digits.data), "features": digits.data.shape[1]})
    print(f"prepared {len(digits.data)} samples", flush=True)


def evaluate() -> None:
    """Compare the training runs upstream by their last test accuracy; tag this run with the best."""
    client = MlflowClient()
    upstream = json.loads(os.environ["UPSTREAM_RUN_IDS"])
    scores = {step: client.get_run(run_id).data.metrics[METRIC] for step, run_id in upstream.items()}
    best = max(scores, key=scores.get)
    with mlflow.start_run():
        mlflow.log_metric(f"best_{METRIC}", scores[best])
        mlflow.set_tags({"best_step": best, "best_run_id": upstream[best]})
    print(f"best: {best} ({METRIC} {scores[best]:.4f}) of {json.dumps(scores, sort_keys=True)}", flush=True)


def register(model: str) -> None:
    """Register the model the evaluate step chose as a new version of <project>.<model>."""
    client = MlflowClient()
    chosen = client.get_run(os.environ["UPSTREAM_EVALUATE_RUN_ID"]).data.tags["best_run_id"]
    name = f"{os.environ['TALLER_PROJECT']}.{model}"
    try:
        client.create_registered_model(name)
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    version = client.create_model_version(name, f"runs:/{chosen}/model", run_id=chosen)
    with mlflow.start_run():
        mlflow.set_tags({"registered_model": name, "registered_version": version.version})
    print(f"registered {name} version {version.version} from run {chosen}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["prepare", "evaluate", "register"])
    parser.add_argument("--model", default="digits", help="registered model name, after the project's")
    args = parser.parse_args(argv)
    if args.step == "prepare":
        prepare()
    elif args.step == "evaluate":
        evaluate()
    else:
        register(args.model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
