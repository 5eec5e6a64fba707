"""The data of a sweep's charts, in the shape the runs pages' charts take (``static/js/run-charts.js``):
the objective against the trial's number (the objective over trials), and parallel coordinates of
the parameters and the objective. Read from the trials' rows: no MLflow call."""

from .models import Trial


def chart_data(sweep, trials: list[Trial]) -> dict:
    axes = list(sweep.space)[:8]
    counted = [t for t in trials if t.objective is not None]
    return {
        "metric": sweep.objective,
        "param": "trial",
        "axes": axes,
        "runs": [
            {
                "name": f"#{t.number}",
                "param": t.number,
                "x": t.number,
                "params": [t.params.get(name, "") for name in axes],
                "metric": t.objective,
            }
            for t in counted
        ],
    }
