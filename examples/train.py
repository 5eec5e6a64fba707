"""Train a digit classifier with scikit-learn and log it to MLflow: the job Taller's demo runs.

    python -m examples.train --epochs 10 --learning-rate 0.01

A plain ``mlflow.start_run()``: inside a Taller job, MLFLOW_TRACKING_URI, MLFLOW_RUN_ID and
MLFLOW_TRACKING_TOKEN are set by the portal, so the run is the job's own run. Outside a job it
logs to a new run wherever MLFLOW_TRACKING_URI points (./mlruns by default). The data set ships
with scikit-learn: nothing is downloaded.
"""

import argparse
import sys

import mlflow
import mlflow.sklearn
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10, help="passes over the training data")
    parser.add_argument("--learning-rate", type=float, default=0.01, help="initial learning rate (eta0)")
    parser.add_argument("--alpha", type=float, default=1e-4, help="L2 regularisation strength")
    parser.add_argument("--batch-size", type=int, default=64, help="samples per partial_fit call")
    parser.add_argument("--test-size", type=float, default=0.25, help="share of the data held out")
    parser.add_argument("--seed", type=int, default=42, help="random seed")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1 or not 0 < args.test_size < 1 or args.learning_rate <= 0:
        parser.error("epochs and batch size must be positive, test size in (0, 1), learning rate > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=args.test_size, random_state=args.seed, stratify=digits.target
    )
    scaler = StandardScaler().fit(x_train)
    x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
    classes = np.unique(digits.target)
    model = SGDClassifier(
        loss="log_loss",
        learning_rate="constant",
        eta0=args.learning_rate,
        alpha=args.alpha,
        random_state=args.seed,
    )
    rng = np.random.default_rng(args.seed)

    with mlflow.start_run() as run:
        print(f"MLflow run {run.info.run_id} in experiment {run.info.experiment_id}", flush=True)
        mlflow.log_params(
            {
                "epochs": args.epochs,
                "learning_rate": args.learning_rate,
                "alpha": args.alpha,
                "batch_size": args.batch_size,
                "test_size": args.test_size,
                "seed": args.seed,
                "model": "SGDClassifier(log_loss)",
                "dataset": "sklearn digits",
            }
        )
        for epoch in range(1, args.epochs + 1):
            order = rng.permutation(len(x_train))
            for start in range(0, len(order), args.batch_size):
                batch = order[start : start + args.batch_size]
                model.partial_fit(x_train[batch], y_train[batch], classes=classes)
            train_accuracy = accuracy_score(y_train, model.predict(x_train))
            test_accuracy = accuracy_score(y_test, model.predict(x_test))
            test_loss = log_loss(y_test, model.predict_proba(x_test), labels=classes)
            mlflow.log_metrics(
                {
                    "train_accuracy": train_accuracy,
                    "test_accuracy": test_accuracy,
                    "test_log_loss": test_loss,
                },
                step=epoch,
            )
            print(
                f"epoch {epoch}/{args.epochs}: train accuracy {train_accuracy:.4f}, "
                f"test accuracy {test_accuracy:.4f}, test log loss {test_loss:.4f}",
                flush=True,
            )
        mlflow.sklearn.log_model(model, name="model", input_example=x_test[:2])
        print(f"done: test accuracy {test_accuracy:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
