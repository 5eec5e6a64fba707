"""What the reconcile and watcher benches share: a running Pod's status, and the p95 they report."""

import statistics


def running_status(started_at: str) -> dict:
    """The status of a Pod whose main container runs since ``started_at``."""
    return {
        "phase": "Running",
        "containerStatuses": [
            {
                "name": "main",
                "image": "registry.example.edu/ml/train:1.0",
                "imageID": "",
                "ready": True,
                "restartCount": 0,
                "started": True,
                "state": {"running": {"startedAt": started_at}},
            }
        ],
    }


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]
