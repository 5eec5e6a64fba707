"""The watcher (`manage.py watch_jobs`, a process of its own) with 10,000 active jobs on the test
API server: the reconcile bench's jobs, in the database and on the cluster, measured by
`python -m bench reconcile` after its reconcile of them.

- memory: the watcher's RSS (/proc/<pid>/status) once it has listed and applied every job, less
  the RSS of the same watcher started on an empty test cluster just before, per 1,000 active
  jobs. Target: at most 30 MiB per 1,000 (issue 17; whole Job and Pod objects cost 77 MiB per
  1,000 against a real API server).
- status propagation: the Pods of SAMPLE pending jobs start running on the test API server, at
  RATE per second; the latency of each is from the change on the server to the moment the job's
  row is `running` in the database (read every POLL seconds: an upper bound). Target: p95 <= 1 s.
"""

import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import connections

from clusterjobs.backends.kubernetes import namespace_name
from clusterjobs.models import Job, JobStatus
from tests.clusterjobs.k8s_api import FakeKubernetes

from .bench_dispatch import test_cluster
from .cluster_load import p95, running_status

SIZE = 10000
SAMPLE = 200  # jobs whose Pods start running during the measure
RATE = 20.0  # of them per second
POLL = 0.02  # seconds between two reads of their rows
SETTLE_SECONDS = 300  # a bound on the watcher's first pass over every job, not a measure
MEMORY_TARGET_MIB = 30.0  # per 1,000 active jobs
LATENCY_TARGET = 1.0  # seconds, p95


def measure(api: FakeKubernetes, kubeconfig: Path) -> list[dict]:
    """Run by the reconcile bench on its cluster of SIZE active jobs (its setup, not a second)."""
    with test_cluster(simulate_pods=False) as (_empty_api, empty_kubeconfig):
        empty = Watcher(empty_kubeconfig)
        try:
            empty.settle(_empty_api, sentinel=None)
            empty_rss = empty.rss()
        finally:
            empty.stop()
    sample = list(Job.objects.order_by("pk").values_list("pk", "project__slug")[: SAMPLE + 1])
    pending(api, sample)
    watcher = Watcher(kubeconfig)
    try:
        watcher.settle(api, sentinel=sample[0])
        full_rss = watcher.rss()
        latencies = propagation(api, sample[1:])
        full_rss = max(full_rss, watcher.rss())
    finally:
        watcher.stop()
    growth = (full_rss - empty_rss) / (SIZE / 1000)
    return [
        {
            "name": f"watcher memory: RSS growth per 1,000 active jobs, {SIZE:,} jobs vs the empty "
            "watcher (baseline: empty, ours: with the jobs)",
            "baseline": f"{empty_rss:.0f} MiB",
            "ours": f"{full_rss:.0f} MiB",
            "ratio": growth,
            "target": f"<= {MEMORY_TARGET_MIB:.0f} MiB per 1,000",
            "ok": growth <= MEMORY_TARGET_MIB,
        },
        {
            "name": f"status propagation, pod change on the server to the job's row, {SIZE:,} active "
            f"jobs ({len(latencies)} changes at {RATE:.0f}/s; baseline: median, ratio: p95 / target)",
            "baseline": f"{1000 * sorted(latencies)[len(latencies) // 2]:.0f} ms",
            "ours": f"{1000 * p95(latencies):.0f} ms",
            "ratio": p95(latencies) / LATENCY_TARGET,
            "target": f"p95 <= {LATENCY_TARGET:.0f} s",
            "ok": p95(latencies) <= LATENCY_TARGET,
        },
    ]


class Watcher:
    """`manage.py watch_jobs` in a process of its own, on the bench database and test cluster."""

    def __init__(self, kubeconfig: Path) -> None:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "TALLER_EXECUTOR": "kubernetes",
            "TALLER_KUBECONFIG": str(kubeconfig),
            "TALLER_K8S_CONTEXT": "",
        }
        manage = Path(settings.BASE_DIR) / "manage.py"
        self.process = subprocess.Popen(  # noqa: S603 - our own command
            [sys.executable, str(manage), "watch_jobs"], env=env, stdout=subprocess.DEVNULL
        )

    def settle(self, api: FakeKubernetes, sentinel: tuple[int, str] | None) -> None:
        """Wait until the watcher watches all three kinds and (with a ``sentinel`` job) has
        applied every status of its first listing: a change made after its watches started is
        applied after them."""
        deadline = time.monotonic() + SETTLE_SECONDS
        before = len(api.requests)
        while sum("watch=true" in path for _m, path in api.requests[before:]) < 3:
            self.check(deadline)
            time.sleep(0.1)
        if sentinel is None:
            time.sleep(2)  # its imports and connections done
            return
        start_pod(api, *sentinel)
        while not Job.objects.filter(pk=sentinel[0], status=JobStatus.RUNNING).exists():
            self.check(deadline)
            time.sleep(0.2)

    def check(self, deadline: float) -> None:
        if self.process.poll() is not None:
            raise AssertionError(f"the watcher exited with {self.process.returncode}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the watcher did not settle in {SETTLE_SECONDS} s")

    def rss(self) -> float:
        """The process's resident memory, MiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def pending(api: FakeKubernetes, jobs: list[tuple[int, str]]) -> None:
    """``jobs`` back to pending, their Pods created and not started yet (no MLflow run to tag)."""
    Job.objects.filter(pk__in=[pk for pk, _slug in jobs]).update(
        status=JobStatus.PENDING, status_reason="starting", started_at=None, mlflow_run_id=""
    )
    for job_id, slug in jobs:
        api.update_status(
            "pods",
            namespace_name(slug),
            f"taller-{job_id}-abcde",
            lambda pod: pod.update(status={"phase": "Pending"}),
        )


def start_pod(api: FakeKubernetes, job_id: int, slug: str) -> None:
    def change(pod: dict) -> None:
        pod["status"] = running_status(datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))

    api.update_status("pods", namespace_name(slug), f"taller-{job_id}-abcde", change)


def propagation(api: FakeKubernetes, jobs: list[tuple[int, str]]) -> list[float]:
    """Seconds from each Pod's start on the server to its job's row being `running`."""
    changed: dict[int, float] = {}
    lock = threading.Lock()

    def changes() -> None:
        start = time.monotonic()
        for i, (job_id, slug) in enumerate(jobs):
            time.sleep(max(0.0, start + i / RATE - time.monotonic()))
            with lock:
                changed[job_id] = time.monotonic()
            start_pod(api, job_id, slug)

    thread = threading.Thread(target=changes, name="bench-pod-changes")
    thread.start()
    seen: dict[int, float] = {}
    deadline = time.monotonic() + len(jobs) / RATE + 60
    while len(seen) < len(jobs) and time.monotonic() < deadline:
        with lock:
            waiting = [pk for pk in changed if pk not in seen]
        running = Job.objects.filter(pk__in=waiting, status=JobStatus.RUNNING).values_list("pk", flat=True)
        now = time.monotonic()
        for pk in running:
            seen.setdefault(pk, now)
        time.sleep(POLL)
    thread.join()
    connections.close_all()
    if len(seen) < len(jobs):
        raise AssertionError(f"{len(jobs) - len(seen)} of {len(jobs)} jobs never became running")
    return [seen[pk] - changed[pk] for pk in seen]
