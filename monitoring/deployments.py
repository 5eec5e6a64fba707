"""Deployments' traffic through the portal's serving path, from the per-minute rows it records:
calls and errors as counters, latency as a histogram with the rows' bucket edges, and each live
deployment's replicas. Two aggregate queries, whatever the traffic."""

from django.db.models import Sum
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from deployments.models import BUCKETS, LATENCY_EDGES_MS, Deployment, TrafficMinute

LABELS = ["project", "deployment"]


class DeploymentsCollector:
    def collect(self):
        replicas = GaugeMetricFamily(
            "taller_deployment_replicas", "Replicas a live deployment asks for.", labels=[*LABELS, "status"]
        )
        for row in (
            Deployment.objects.live()
            .values("project__slug", "name", "status", "replicas")
            .order_by("project__slug", "name")
        ):
            replicas.add_metric([row["project__slug"], row["name"], row["status"]], row["replicas"])
        yield replicas

        calls = CounterMetricFamily(
            "taller_deployment_requests", "Calls through the portal's serving path.", labels=LABELS
        )
        errors = CounterMetricFamily(
            "taller_deployment_errors",
            "Calls the model server failed (5xx) or did not answer.",
            labels=LABELS,
        )
        latency = HistogramMetricFamily(
            "taller_deployment_latency_seconds",
            "Time to the model server's answer, as the portal saw it.",
            labels=LABELS,
        )
        sums = {f"l{i}": Sum(f"l{i}") for i in range(BUCKETS)}
        rows = (
            TrafficMinute.objects.values("deployment__project__slug", "deployment__name")
            .annotate(requests=Sum("requests"), errors=Sum("errors"), **sums)
            .order_by("deployment__project__slug", "deployment__name")
        )
        edges = [str(edge / 1000) for edge in LATENCY_EDGES_MS] + ["+Inf"]
        for row in rows:
            labels = [row["deployment__project__slug"], row["deployment__name"]]
            calls.add_metric(labels, row["requests"] or 0)
            errors.add_metric(labels, row["errors"] or 0)
            cumulative, buckets = 0, []
            for index, edge in enumerate(edges):
                cumulative += row[f"l{index}"] or 0
                buckets.append((edge, cumulative))
            latency.add_metric(labels, buckets, sum_value=None)
        yield calls
        yield errors
        yield latency
