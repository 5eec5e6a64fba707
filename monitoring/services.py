"""What the processes noted in the shared cache (``portal.observe``): the watcher's progress
behind the backend, and the latency and errors of the portal's calls to MLflow."""

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from portal import observe


class WatcherCollector:
    def collect(self):
        started = GaugeMetricFamily(
            "taller_watcher_started_timestamp_seconds",
            "When the watcher last opened its stream of the backend (Unix time).",
            labels=["backend"],
        )
        applied = GaugeMetricFamily(
            "taller_watcher_last_applied_timestamp_seconds",
            "When the watcher last applied a status from the backend (Unix time).",
            labels=["backend"],
        )
        lag = GaugeMetricFamily(
            "taller_watcher_lag_seconds",
            "How long after the backend recorded it the watcher applied the last job start or end.",
            labels=["backend"],
        )
        for backend, note in sorted(observe.watchers().items()):
            if "started_at" in note:
                started.add_metric([backend], note["started_at"])
            if "applied_at" in note:
                applied.add_metric([backend], note["applied_at"])
            if "lag_seconds" in note:
                lag.add_metric([backend], note["lag_seconds"])
        yield started
        yield applied
        yield lag


class MlflowCollector:
    def collect(self):
        duration = HistogramMetricFamily(
            "taller_mlflow_request_duration_seconds",
            "The portal's calls to MLflow: REST calls of the gateway and the tracking proxy (rest), "
            "and MLflow's client (client).",
            labels=["call"],
        )
        errors = CounterMetricFamily(
            "taller_mlflow_request_errors",
            "The portal's calls to MLflow that failed: unreachable (no answer) or server (a 5xx).",
            labels=["call", "error"],
        )
        for kind, figures in observe.calls().items():
            cumulative, buckets = 0, []
            for bound, count in figures["buckets"].items():
                cumulative += count
                buckets.append((bound, cumulative))
            duration.add_metric([kind], buckets, sum_value=figures["seconds"])
            for error, count in figures["errors"].items():
                errors.add_metric([kind, error], count)
        yield duration
        yield errors
