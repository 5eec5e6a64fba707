"""Jobs by state and project, the queue of each project, and how long admission and dispatch
took over the recent window: five queries whatever the number of jobs and projects."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, F, Min, OuterRef, Q, Subquery, Sum
from django.utils import timezone
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily

from clusterjobs.models import Job, JobStatus, JobTransition
from portal.projects.models import Project
from portal.quotas.periods import Seconds

# Upper bounds (seconds) of the admission and dispatch latency buckets; the last one is +Inf.
LATENCY_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)


def _histogram(name: str, documentation: str, rows) -> GaugeHistogramMetricFamily:
    """A histogram of the window from one aggregate row (``le<i>`` counts, ``count``, ``total``)."""
    buckets = [(str(float(bound)), rows[f"le{i}"] or 0) for i, bound in enumerate(LATENCY_BUCKETS)]
    buckets.append(("+Inf", rows["count"] or 0))
    return GaugeHistogramMetricFamily(name, documentation, buckets=buckets, gsum_value=rows["total"] or 0.0)


def _latencies(transitions, wait) -> dict:
    annotated = transitions.annotate(wait=wait)
    return annotated.aggregate(
        count=Count("pk"),
        total=Sum("wait"),
        **{f"le{i}": Count("pk", filter=Q(wait__lte=bound)) for i, bound in enumerate(LATENCY_BUCKETS)},
    )


class JobsCollector:
    def collect(self):
        now = timezone.now()
        active = list(Project.objects.filter(status=Project.Status.ACTIVE).values_list("slug", flat=True))

        counts = {(slug, state): 0 for slug in active for state in JobStatus.values}
        for row in Job.objects.order_by().values("project__slug", "status").annotate(n=Count("pk")):
            counts[(row["project__slug"], row["status"])] = row["n"]
        jobs = GaugeMetricFamily("taller_jobs", "Jobs by project and state.", labels=["project", "status"])
        for (slug, state), n in sorted(counts.items()):
            jobs.add_metric([slug, state], n)
        yield jobs

        queues = {slug: (0, None) for slug in active}
        queued = Job.objects.filter(status=JobStatus.QUEUED).order_by().values("project__slug")
        for row in queued.annotate(n=Count("pk"), oldest=Min("created_at")):
            queues[row["project__slug"]] = (row["n"], row["oldest"])
        length = GaugeMetricFamily("taller_queue_length", "Queued jobs by project.", labels=["project"])
        wait = GaugeMetricFamily(
            "taller_queue_oldest_wait_seconds",
            "How long the oldest queued job of each project has waited (0 with none queued).",
            labels=["project"],
        )
        for slug, (n, oldest) in sorted(queues.items()):
            length.add_metric([slug], n)
            wait.add_metric([slug], max((now - oldest).total_seconds(), 0.0) if oldest else 0.0)
        yield length
        yield wait

        window = int(settings.TALLER_METRICS_WINDOW_SECONDS)
        since = now - timedelta(seconds=window)
        admitted = JobTransition.objects.filter(
            from_status=JobStatus.QUEUED, to_status=JobStatus.DISPATCHING, at__gte=since
        )
        yield _histogram(
            "taller_job_admission_latency_seconds",
            "From submission to admission (queued to dispatching), for jobs admitted within the window.",
            _latencies(admitted, Seconds(F("at"), F("job__created_at"))),
        )
        dispatching_at = JobTransition.objects.filter(
            job_id=OuterRef("job_id"), to_status=JobStatus.DISPATCHING
        ).values("at")[:1]
        dispatched = JobTransition.objects.filter(
            from_status=JobStatus.DISPATCHING,
            to_status__in=[JobStatus.PENDING, JobStatus.RUNNING],
            at__gte=since,
        ).annotate(admitted_at=Subquery(dispatching_at))
        yield _histogram(
            "taller_job_dispatch_latency_seconds",
            "From admission to the backend accepting the job (dispatching to pending or running), "
            "for jobs dispatched within the window.",
            _latencies(dispatched, Seconds(F("at"), F("admitted_at"))),
        )
        info = GaugeMetricFamily(
            "taller_metrics_window_seconds", "The window of the admission and dispatch latencies."
        )
        info.add_metric([], window)
        yield info
