"""A job's CPU, memory and GPU use over its life, from the Prometheus that scrapes the cluster
(``TALLER_PROMETHEUS_URL``): cAdvisor's container series and DCGM's exporter with its Kubernetes
mapping, both labelled with the pod's ``namespace`` and ``pod``.

One bounded ``/api/v1/query_range`` call answers all three series (each marked with a ``series``
label), so a page waits on Prometheus once. Label values are written as PromQL string literals
with every quote and backslash escaped, so a name can never end the selector early.
"""

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from experiments import gateway

from .backends.kubernetes.manifests import job_name, namespace_name
from .models import Job

MAX_POINTS = 120  # points of a chart: the step grows with the job's life
MIN_STEP_SECONDS = 1
KUBERNETES = "kubernetes"

# Go's string escapes, which PromQL's double-quoted strings follow.
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def promql_string(value: str) -> str:
    """``value`` as a double-quoted PromQL string literal: quotes, backslashes and control
    characters escaped, so the literal ends exactly where the value does."""
    escaped = "".join(_ESCAPES.get(char, char) for char in value)
    escaped = re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\x{ord(m[0]):02x}", escaped)
    return f'"{escaped}"'


def promql_regex_literal(value: str) -> str:
    """A regular expression (RE2) that matches ``value`` and nothing else, as a string literal."""
    return promql_string(re.escape(value))


def pod_selector(namespace: str, job_backend_name: str) -> str:
    """The label matchers of a Kubernetes Job's pods: its namespace, and the pods the Job
    controller names ``<job>-<five characters>`` (a retried job's pods too)."""
    pods = re.escape(job_backend_name) + "-[a-z0-9]{5}"
    return f"namespace={promql_string(namespace)},pod=~{promql_string(pods)}"


def usage_query(selector: str, rate_seconds: int) -> str:
    """The three series in one expression, told apart by their ``series`` label: CPU cores used
    (the containers', not the pod's own cgroup counted twice), memory working set, GPU use (%)."""
    containers = f'{selector},container!="",container!="POD"'
    cpu = f"sum(rate(container_cpu_usage_seconds_total{{{containers}}}[{rate_seconds}s]))"
    memory = f"sum(container_memory_working_set_bytes{{{containers}}})"
    gpu = f"avg(DCGM_FI_DEV_GPU_UTIL{{{selector}}})"
    return " or ".join(
        f'label_replace({expression}, "series", "{name}", "", "")'
        for name, expression in (("cpu", cpu), ("memory", memory), ("gpu", gpu))
    )


@dataclass
class ResourceUse:
    """What a page shows: rows of (time, CPU cores, memory MiB, GPU %), their averages and
    peaks, or why there is nothing (``problem``)."""

    rows: list[dict] = field(default_factory=list)
    problem: str = ""
    cpu_average: float | None = None
    cpu_peak: float | None = None
    memory_peak_mib: float | None = None
    gpu_average: float | None = None

    @property
    def has_gpu(self) -> bool:
        return self.gpu_average is not None


def is_observable(job: Job) -> bool:
    """A job Prometheus can have seen: run on Kubernetes, started."""
    return job.backend == KUBERNETES and job.started_at is not None


def _window(job: Job, now: datetime) -> tuple[datetime, datetime, int]:
    end = min(job.finished_at or now, now)
    start = min(job.started_at, end)
    seconds = max((end - start).total_seconds(), 1.0)
    step = max(MIN_STEP_SECONDS, math.ceil(seconds / MAX_POINTS))
    return start, end, step


class PrometheusError(Exception):
    pass


def _query_range(query: str, start: datetime, end: datetime, step: int) -> list[dict]:
    """The one bounded call; its answer's ``result``, or PrometheusError with a readable reason."""
    try:
        response = requests.get(
            f"{settings.TALLER_PROMETHEUS_URL}/api/v1/query_range",
            params={"query": query, "start": start.timestamp(), "end": end.timestamp(), "step": step},
            timeout=settings.TALLER_PROMETHEUS_TIMEOUT_SECONDS,
        )
        answer = response.json()
    except requests.Timeout:
        raise PrometheusError(_("Prometheus did not answer in time.")) from None
    except (requests.RequestException, ValueError):
        raise PrometheusError(_("Prometheus cannot be reached.")) from None
    if not isinstance(answer, dict) or answer.get("status") != "success":
        error = answer.get("error", "") if isinstance(answer, dict) else ""
        raise PrometheusError(_("Prometheus refused the query: %(error)s") % {"error": str(error)[:200]})
    result = answer.get("data", {}).get("result", [])
    return result if isinstance(result, list) else []


def resource_use(job: Job, now: datetime | None = None) -> ResourceUse:
    """The job's use over its life (to now while it runs), from one query_range call; what went
    wrong is said in ``problem``."""
    if not settings.TALLER_PROMETHEUS_URL:
        return ResourceUse(problem=_("This site has no Prometheus configured for resource use."))
    if not is_observable(job):
        return ResourceUse(problem=_("Resource use is shown for jobs that ran on the cluster."))
    try:
        return _fetch(job, now or timezone.now())
    except PrometheusError as failure:
        return ResourceUse(problem=str(failure))


def _fetch(job: Job, now: datetime) -> ResourceUse:
    start, end, step = _window(job, now)
    selector = pod_selector(namespace_name(job.project.slug), job_name(job.pk))
    query = usage_query(selector, max(settings.TALLER_PROMETHEUS_RATE_SECONDS, 4 * step))
    return _shape(_query_range(query, start, end, step))


def _shape(result: list[dict]) -> ResourceUse:
    columns: dict[str, dict[float, float]] = {}
    for series in result:
        name = series.get("metric", {}).get("series")
        if name not in {"cpu", "memory", "gpu"}:
            continue
        points = columns.setdefault(name, {})
        for stamp, value in series.get("values", []):
            number = float(value)
            if math.isfinite(number):
                points[float(stamp)] = number
    if not columns:
        return ResourceUse(problem=_("Prometheus has no samples of this job's pods."))
    stamps = sorted(set().union(*(points.keys() for points in columns.values())))
    rows = []
    for stamp in stamps:
        memory = columns.get("memory", {}).get(stamp)
        rows.append(
            {
                "at": datetime.fromtimestamp(stamp, tz=UTC),
                "cpu": _round(columns.get("cpu", {}).get(stamp), 3),
                "memory_mib": _round(None if memory is None else memory / 1024 / 1024, 1),
                "gpu": _round(columns.get("gpu", {}).get(stamp), 1),
            }
        )
    cpu = list(columns.get("cpu", {}).values())
    memory = list(columns.get("memory", {}).values())
    gpu = list(columns.get("gpu", {}).values())
    return ResourceUse(
        rows=rows,
        cpu_average=_round(sum(cpu) / len(cpu), 3) if cpu else None,
        cpu_peak=_round(max(cpu), 3) if cpu else None,
        memory_peak_mib=_round(max(memory) / 1024 / 1024, 1) if memory else None,
        gpu_average=_round(sum(gpu) / len(gpu), 1) if gpu else None,
    )


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def chart_rows(use: ResourceUse) -> list[dict]:
    """The rows as JSON for the charts (ISO times)."""
    return [{**row, "at": row["at"].isoformat()} for row in use.rows]


def flag_gpu_use(job_id: int) -> bool | None:
    """Once a job that held GPUs has ended: its average GPU use over its life, recorded on the job
    and, when under ``TALLER_GPU_UNDERUSED_PERCENT``, as the tag ``taller.gpu_underused`` on its
    run. Recorded once (a conditional UPDATE claims it); returns whether it was underused, or
    None when nothing was recorded (no GPUs, no Prometheus, no samples, or done already)."""
    job = Job.objects.select_related("project").filter(pk=job_id).first()
    if (
        job is None
        or not job.is_terminal()
        or job.gpus == 0
        or job.gpu_use_percent is not None
        or not settings.TALLER_PROMETHEUS_URL
        or not is_observable(job)
    ):
        return None
    use = _fetch(job, timezone.now())  # PrometheusError: the task tries again later
    if use.gpu_average is None:
        return None
    underused = use.gpu_average < settings.TALLER_GPU_UNDERUSED_PERCENT
    if underused and job.mlflow_run_id:
        # Before the claim: setting the same tags twice is harmless, a claim without them is not.
        gateway.set_run_tags(
            job.mlflow_run_id,
            {gateway.GPU_UNDERUSED_TAG: "true", gateway.GPU_USE_TAG: f"{use.gpu_average:g}"},
        )
    claimed = Job.objects.filter(pk=job_id, gpu_use_percent__isnull=True).update(
        gpu_use_percent=use.gpu_average, gpu_underused=underused
    )
    return underused if claimed else None
