"""A training stand-in for the sweep tests, a second or two a trial: the loss of a known bowl,
lowest at x = 0.7, y = 0.2, logged per step (falling to its final value) into the job's run with a
plain ``mlflow.start_run()``, as a real script would. With ``--linger-above L``, a trial whose loss
is above L goes on (sleeps) after logging its curve, a long bad training for pruning to stop."""

import argparse
import time

import mlflow


def loss(x: float, y: float) -> float:
    return (x - 0.7) ** 2 + (y - 0.2) ** 2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--x", type=float, required=True)
    parser.add_argument("--y", type=float, required=True)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--metric", default="loss")
    parser.add_argument("--linger-above", type=float, default=None)
    args = parser.parse_args()
    final = loss(args.x, args.y)
    with mlflow.start_run():
        for step in range(1, args.steps + 1):
            mlflow.log_metric(args.metric, final * (1 + (args.steps - step) / args.steps), step=step)
            if args.linger_above is not None and final > args.linger_above and step == args.steps:
                print(f"lingering: {args.metric} {final:.4f}", flush=True)
                time.sleep(180)
    print(f"done: {args.metric} {final:.4f}", flush=True)


if __name__ == "__main__":
    main()
