"""Reconcile against the test API server with 3,000 (and 10,000) active jobs, and what it does to
dispatch while it runs; then the watcher on the 10,000 jobs (bench_watcher).

- requests per reconcile cycle: the Kubernetes requests one ``sync.reconcile()`` makes, counted
  by the server, against the two a job that a look per job made (a GET of the Job and a list of its
  Pods: 6,000 at 3,000 jobs). Target: three paged lists (Jobs, Pods, FailedCreate events across
  namespaces), ``2 * ceil(jobs / page) + 1`` requests, whatever else the cluster holds.
- dispatch p95 while reconciles run: jobs dispatched at a steady rate by the dispatch task in four
  worker processes (the `worker`), with no reconcile, then while reconciles run back to back in a
  process of their own (the `periodic` worker), on the same database and API server. Latency is
  from the moment the job is handed to the pool to the moment its Job is created and the job is
  `pending`. Target: p95 during reconciles at most 1.5 times p95 without.

Everything runs on the bench database (its jobs deleted first) and a test API server of its own;
the active jobs are spread over 30 projects, each a namespace with its Jobs and their running Pods.
"""

import math
import multiprocessing
import os
import time

from django.conf import settings
from django.db import connections
from django.utils import timezone

from clusterjobs import sync, tasks
from clusterjobs.backends.kubernetes import job_manifest, namespace_manifest
from clusterjobs.models import Job, JobStatus
from tests.clusterjobs.k8s_api import FakeKubernetes

from . import bench_watcher
from .bench_dispatch import admitted_jobs, spec, test_cluster
from .cluster_load import p95, running_status

SIZES = (3000, 10000)
PROJECTS = 30
BLOCKS = 5  # per phase, in turn
BLOCK = 40  # dispatches
WARMUP = 20
PERIODIC_NICE = 10  # as the Procfile starts the periodic worker
RATE = 10.0  # dispatches handed to the pool per second: a steady load the pool keeps up with
WORKERS = 4
TARGET_RATIO = 1.5


def run() -> list[dict]:
    rows = []
    for size in SIZES:
        with test_cluster(simulate_pods=False) as (api, kubeconfig):
            rows += measure(api, size)
            if size == bench_watcher.SIZE:  # the watcher on the same jobs
                rows += bench_watcher.measure(api, kubeconfig)
    return rows


def active_jobs(api: FakeKubernetes, size: int) -> None:
    """``size`` running jobs over PROJECTS projects: rows in the database, and on the cluster
    each project's namespace with the jobs' Jobs and running Pods (put straight into the store)."""
    now = timezone.now()
    for p in range(PROJECTS):
        slug = f"bench-r{size}-{p}"
        owner, job_ids = admitted_jobs(size // PROJECTS + (1 if p < size % PROJECTS else 0), slug)
        Job.objects.filter(pk__in=job_ids).update(
            status=JobStatus.RUNNING, status_reason="running", backend="kubernetes", started_at=now
        )
        api.create("namespaces", "", namespace_manifest(slug))
        for job_id in job_ids:
            created = api.create("jobs", f"taller-{slug}", job_manifest(spec(job_id, slug)))
            pod = {
                "metadata": {
                    "name": f"taller-{job_id}-abcde",
                    "labels": created["spec"]["template"]["metadata"]["labels"],
                },
                "spec": created["spec"]["template"]["spec"],
                "status": running_status("2026-11-26T10:00:00Z"),
            }
            api.create("pods", f"taller-{slug}", pod)


def fresh_process() -> None:
    """In a forked process: its own connections to the cluster, not the parent's pooled sockets."""
    from clusterjobs import backends

    backends._instances.clear()


def dispatch_timed(job_id: int) -> tuple[str, float]:
    """In a worker process: the dispatch task's body, and when it was done (a clock all processes share)."""
    outcome = tasks.dispatch_job(job_id)
    return outcome, time.perf_counter()


def reconcile_loop(go, idle, done, cycles, nice: int) -> None:
    """In a process of its own (the periodic worker): reconciles back to back while ``go`` is set;
    ``idle`` says that none is running."""
    fresh_process()
    os.nice(nice)
    while not done.is_set():
        if not go.wait(timeout=0.05):
            idle.set()
            continue
        idle.clear()
        sync.reconcile()
        with cycles.get_lock():
            cycles.value += 1
    connections.close_all()


def dispatch_latencies(pool, job_ids: list[int]) -> list[float]:
    pending = []
    start = time.perf_counter()
    for i, job_id in enumerate(job_ids):
        issue_at = start + i / RATE
        time.sleep(max(0.0, issue_at - time.perf_counter()))
        issued = time.perf_counter()
        pending.append((issued, pool.apply_async(dispatch_timed, (job_id,))))
    latencies = []
    for issued, result in pending:
        outcome, done = result.get(timeout=600)
        if outcome != "submitted":
            raise AssertionError(f"dispatch answered {outcome}")
        latencies.append(done - issued)
    return latencies


def measure(api: FakeKubernetes, size: int) -> list[dict]:
    # The jobs other benches (or the smaller size) left are on no cluster of this bench.
    Job.objects.all().delete()
    active_jobs(api, size)

    # One reconcile cycle on its own: its requests, counted by the server.
    before = len(api.requests)
    started = time.perf_counter()
    counts = sync.reconcile()
    seconds = time.perf_counter() - started
    made = len(api.requests) - before
    if counts["checked"] != size or counts["moved"]:
        raise AssertionError(f"reconcile checked {counts['checked']} and moved {counts['moved']}")
    page = settings.TALLER_K8S_LIST_PAGE_SIZE
    bound = 2 * math.ceil(size / page) + 1
    rows = [
        {
            "name": f"Kubernetes requests per reconcile cycle, {size:,} active jobs (a cycle took "
            f"{seconds:.1f} s; baseline: a look per job)",
            "baseline": 2 * size,
            "ours": made,
            "ratio": made / (2 * size),
            "target": f"<= {bound} (3 lists, pages of {page})",
            "ok": made <= bound,
        }
    ]
    if size != SIZES[0]:
        return rows

    # Dispatch latency with no reconcile, and while reconciles run in a process of their own:
    # blocks of each in turn, so that what else the machine does weighs on both alike.
    _project, job_ids = admitted_jobs(WARMUP + 2 * BLOCKS * BLOCK, f"bench-dispatch-r{size}")
    connections.close_all()
    context = multiprocessing.get_context("fork")
    pool = context.Pool(WORKERS, initializer=fresh_process)
    go, idle, done, cycles = context.Event(), context.Event(), context.Event(), context.Value("i", 0)
    reconciler = context.Process(target=reconcile_loop, args=(go, idle, done, cycles, PERIODIC_NICE))
    reconciler.start()
    quiet: list[float] = []
    busy: list[float] = []
    try:
        dispatch_latencies(pool, job_ids[:WARMUP])  # connections opened, the project prepared
        blocks = [job_ids[i : i + BLOCK] for i in range(WARMUP, len(job_ids), BLOCK)]
        for n, block in enumerate(blocks):
            if n % 2:
                go.set()
                busy += dispatch_latencies(pool, block)
                go.clear()
            else:
                idle.wait(timeout=600)  # the last reconcile is over
                quiet += dispatch_latencies(pool, block)
    finally:
        go.clear()
        done.set()
        reconciler.join(timeout=600)
        pool.close()
        pool.join()
    if cycles.value < BLOCKS:
        raise AssertionError(f"{cycles.value} reconciles ran in {BLOCKS} blocks")
    ratio = p95(busy) / p95(quiet)
    rows.append(
        {
            "name": f"dispatch p95 while reconciles of {size:,} jobs run back to back ({cycles.value} "
            f"cycles, periodic worker at nice {PERIODIC_NICE}) vs with none ({WORKERS} workers, "
            f"{RATE:.0f} jobs/s, {BLOCKS} blocks of {BLOCK} each)",
            "baseline": f"{1000 * p95(quiet):.0f} ms",
            "ours": f"{1000 * p95(busy):.0f} ms",
            "ratio": ratio,
            "target": f"<= {TARGET_RATIO}",
            "ok": ratio <= TARGET_RATIO,
        }
    )
    return rows
