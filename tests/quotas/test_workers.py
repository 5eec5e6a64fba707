"""With the real pieces: the quota mirrored on the cluster by a real worker after a change, the
queues drained by a real worker and the watcher on the local backend (first in, first out within
a project, fair across projects), and concurrent submissions through submit_job."""

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import yaml
from django.db import connection
from django.db.models import Count, Sum

from clusterjobs import actions as job_actions
from clusterjobs import queue
from clusterjobs.backends import get_backend
from clusterjobs.lifecycle import move_job
from clusterjobs.models import Job, JobStatus, JobTransition
from clusterjobs.validation import check_request
from clusterjobs.watcher import follow
from portal.projects.models import Role
from portal.quotas import actions
from portal.quotas.tasks import mirror_quota
from tests.clusterjobs.k8s_api import FakeKubernetes
from tests.clusterjobs.watching import wait_for
from tests.factories import MembershipFactory, ProjectFactory

from .conftest import set_quota


@pytest.mark.django_db
def test_mirror_task_with_the_local_backend(personas, settings):
    settings.TALLER_EXECUTOR = "local"
    assert mirror_quota.apply(args=[personas.project.pk]).get() == "mirrored"
    assert mirror_quota.apply(args=[10**9]).get() == "gone"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_quota_change_is_mirrored_on_the_cluster_by_a_worker(personas, settings, tmp_path, celery_worker):
    api = FakeKubernetes().start()
    try:
        kubeconfig = tmp_path / "kubeconfig.yaml"
        kubeconfig.write_text(yaml.safe_dump(api.kubeconfig(context="taller-test")))
        settings.TALLER_EXECUTOR = "kubernetes"
        settings.TALLER_KUBECONFIG = str(kubeconfig)
        settings.TALLER_K8S_CONTEXT = "taller-test"
        settings.TALLER_K8S_TIMEOUT_SECONDS = 5
        actions.update_quota(personas.root, personas.project, "new grant", max_gpus=3, max_cpu="12.5")

        def mirrored():
            try:
                return api.get("resourcequotas", "taller-genomics", "taller-quota")
            except Exception:
                return None

        quota = wait_for(mirrored, 30, "the ResourceQuota")
        assert quota["spec"]["hard"]["requests.nvidia.com/gpu"] == "3"
        assert quota["spec"]["hard"]["requests.cpu"] == "12500m"
        assert (
            api.get("limitranges", "taller-genomics", "taller-limits")["spec"]["limits"][0]["max"]["cpu"]
            == "12500m"
        )
    finally:
        api.stop()


@pytest.fixture
def watcher():
    stop = threading.Event()

    def run():
        try:
            follow(stop, get_backend("local"))
        finally:
            connection.close()

    thread = threading.Thread(target=run, name="watcher")
    thread.start()
    yield
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()


def spec(name: str, seconds: float) -> dict:
    return {
        "name": name,
        "image": "python:3.11-slim",
        "command": ["python", "-c", f"import time; time.sleep({seconds})"],
        "cpu": "0.1",
        "memory_mib": 64,
        "gpus": 1,
        "time_limit_minutes": 2,
    }


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_queues_drain_fifo_within_and_fair_across_projects(
    personas, settings, mlflow_uri, celery_worker, watcher
):
    settings.TALLER_EXECUTOR = "local"
    settings.TALLER_JOB_TRACKING_URI = mlflow_uri
    settings.TALLER_LOCAL_POLL_SECONDS = 0.2
    settings.TALLER_CLUSTER_GPUS = 2  # the whole cluster: two GPUs for both projects
    bob = personas.bob
    genomics = personas.project
    climate = ProjectFactory(slug="climate")
    MembershipFactory(project=climate, user=bob, role=Role.MEMBER)
    for project in (genomics, climate):
        set_quota(project, max_gpus=2, max_running_jobs=10, gpu_hours_per_period=Decimal(100))

    submitted = {}
    # genomics fills the cluster, then queues a third job; climate queues two after it.
    for key, project, seconds in [
        ("g1", genomics, 4),  # long enough for the other submissions to queue first
        ("g2", genomics, 12),
        ("g3", genomics, 1),
        ("c1", climate, 1),
        ("c2", climate, 1),
    ]:
        submitted[key] = job_actions.submit_job(
            bob, project, check_request(bob, project, **spec(key, seconds))
        ).pk
    names = {pk: key for key, pk in submitted.items()}
    assert Job.objects.get(pk=submitted["g3"]).status == JobStatus.QUEUED

    def all_succeeded():
        return set(Job.objects.filter(pk__in=submitted.values()).values_list("status", flat=True)) == {
            "succeeded"
        }

    wait_for(all_succeeded, 90, "every job to succeed")
    order = [
        names[t.job_id]
        for t in JobTransition.objects.filter(
            job_id__in=submitted.values(), to_status=JobStatus.DISPATCHING
        ).order_by("at", "pk")
    ]
    # g1 ends first: climate holds 0 of its quota, genomics half, so c1 goes before the older g3;
    # c1 ends: climate again holds less than genomics (g2 still runs), so c2; then g3.
    assert order == ["g1", "g2", "c1", "c2", "g3"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_concurrent_submit_job_never_exceeds_the_quota(personas, settings, mlflow_uri):
    """50 submissions through submit_job from 25 threads, jobs ending meanwhile (no worker: the
    dispatch messages wait on the broker and are purged)."""
    from portal.celery import app

    settings.TALLER_EXECUTOR = "local"
    project, bob = personas.project, personas.bob
    set_quota(
        project, max_gpus=4, max_running_jobs=50, max_cpu=Decimal(64), gpu_hours_per_period=Decimal(10000)
    )
    threads = 25
    start = threading.Barrier(threads)
    done = threading.Event()
    observed: list[int] = []
    errors: list[Exception] = []

    def active_gpus() -> int:
        return Job.objects.filter(project=project).active().aggregate(g=Sum("gpus"))["g"] or 0

    def watch() -> None:
        try:
            while not done.is_set():
                observed.append(active_gpus())
        finally:
            connection.close()

    def worker(indices: list[int]) -> None:
        try:
            start.wait()
            for i in indices:
                asked = {**spec(f"race-{i}", 1), "gpus": 1 + i % 2, "cpu": "1"}
                job_actions.submit_job(bob, project, check_request(bob, project, **asked))
                if i % 4 == 0:
                    ending = (
                        Job.objects.filter(project=project)
                        .active()
                        .order_by("?")
                        .values_list("pk", flat=True)
                        .first()
                    )
                    if ending and move_job(ending, JobStatus.SUCCEEDED, "done"):
                        queue.admit_and_dispatch()
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    indices = list(range(50))
    random.shuffle(indices)
    watching = threading.Thread(target=watch)
    watching.start()
    try:
        with ThreadPoolExecutor(threads) as pool:
            for future in [pool.submit(worker, indices[t::threads]) for t in range(threads)]:
                future.result()
    finally:
        done.set()
        watching.join()
        app.control.purge()
    assert errors == []
    assert max(observed) <= 4 and len(observed) > 10
    jobs = Job.objects.filter(project=project)
    assert jobs.count() == 50
    assert set(jobs.values_list("status", flat=True)) <= {
        JobStatus.DISPATCHING,
        JobStatus.QUEUED,
        JobStatus.SUCCEEDED,
    }
    assert active_gpus() <= 4
    twice = (
        JobTransition.objects.filter(to_status=JobStatus.DISPATCHING)
        .values("job")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
    )
    assert not twice.exists()
    waiting = jobs.filter(status=JobStatus.QUEUED)
    assert set(waiting.values_list("status_reason", flat=True)) <= {"waiting for quota"}
