"""backend.watch(): one list+watch stream per kind, fed every status case, a 410 relist and a
dropped stream, through the real client against the test API server."""

import queue
import threading
import time

import pytest

from .conftest import make_spec
from .k8s_cases import CASES, JOB, NS, running

WAIT = 10  # seconds; a generous bound for a 2-core machine, not a speed assertion


class Watcher:
    """Runs backend.watch() in a thread and collects what it yields."""

    def __init__(self, backend, refuse=lambda status: False) -> None:
        self.stop = threading.Event()
        self.statuses: queue.Queue = queue.Queue()
        self.seen: list = []
        self.refuse = refuse  # which statuses the consumer says it could not save
        self.thread = threading.Thread(target=self._run, args=(backend,), daemon=True)
        self.thread.start()

    def _run(self, backend) -> None:
        stream = backend.watch(self.stop)
        saved = None
        try:
            while True:
                status = stream.send(saved)
                saved = not self.refuse(status)
                self.statuses.put(status)
        except StopIteration:
            pass

    def until(self, predicate, what: str):
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                status = self.statuses.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(status)
            if predicate(status):
                return status
        raise AssertionError(
            f"no status {what} within {WAIT} s; saw {[(s.job_id, s.phase, s.reason) for s in self.seen]}"
        )

    def phase(self, job_id: int, phase: str, reason: str | None = None):
        return self.until(
            lambda s: s.job_id == job_id and s.phase == phase and (reason is None or s.reason == reason),
            f"{job_id} {phase} {reason or ''}",
        )

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=WAIT)
        assert not self.thread.is_alive(), "watch() did not honour stop"


@pytest.fixture
def watcher(cluster):
    watcher = Watcher(cluster.backend)
    yield watcher
    watcher.close()


def list_calls(cluster, path: str) -> list[str]:
    return [p for m, p in cluster.api.requests if m == "GET" and p.startswith(path) and "watch=" not in p]


def watch_calls(cluster, path: str) -> list[str]:
    return [p for m, p in cluster.api.requests if m == "GET" and p.startswith(path) and "watch=true" in p]


@pytest.mark.parametrize(("name", "steps", "phase", "reason", "exit_code"), CASES, ids=[c[0] for c in CASES])
def test_watch_follows_each_case(cluster, watcher, name, steps, phase, reason, exit_code):
    cluster.backend.submit(make_spec())
    watcher.phase(42, "pending")

    for step in steps:
        step(cluster.api)

    status = watcher.phase(42, phase, reason)
    assert status.exit_code == exit_code
    assert status.extra["uid"] == "uid-42"


def test_watch_lists_what_exists_then_follows_changes(cluster):
    cluster.backend.submit(make_spec(41))
    running_job = make_spec(42)
    cluster.backend.submit(running_job)
    running(cluster.api)
    watcher = Watcher(cluster.backend)
    try:
        watcher.phase(41, "pending")
        assert watcher.phase(42, "running").image_digest.endswith("ab" * 32)
        cluster.backend.submit(make_spec(43))
        watcher.phase(43, "pending")
        # Jobs of the watch selector only: an unlabelled Job elsewhere is not the portal's.
        assert {s.job_id for s in watcher.seen} == {41, 42, 43}
    finally:
        watcher.close()
    jobs_path = "/apis/batch/v1/jobs?labelSelector=taller.io/job"
    assert len(list_calls(cluster, jobs_path)) == 1
    assert list_calls(cluster, "/api/v1/pods?labelSelector=taller.io/job")
    assert list_calls(
        cluster, "/api/v1/events?fieldSelector=involvedObject.kind%3DJob%2Creason%3DFailedCreate"
    )


def test_watch_reports_failed_create_quota_event(cluster, watcher):
    cluster.api.simulate_pods = False
    cluster.backend.submit(make_spec())
    watcher.phase(42, "pending", "waiting for the cluster to create the pod")

    cluster.api.add_event(
        NS,
        JOB,
        "FailedCreate",
        'Error creating: pods "taller-42-abcde" is forbidden: exceeded quota: taller-quota, requested: pods=1, '
        "used: pods=2, limited: pods=2",
    )

    watcher.phase(
        42,
        "pending",
        "the cluster did not create the pod: exceeded quota: taller-quota, requested: pods=1, used: pods=2, limited: pods=2",
    )


def test_watch_relists_after_410_gone(cluster, watcher):
    cluster.backend.submit(make_spec())
    watcher.phase(42, "pending")
    jobs_path = "/apis/batch/v1/jobs?labelSelector=taller.io/job"
    assert len(list_calls(cluster, jobs_path)) == 1

    # The server forgets the history; the next watch from the old resourceVersion is 410 Gone.
    cluster.api.compact()
    cluster.api.drop_streams()
    running(cluster.api)
    cluster.backend.submit(make_spec(43))

    watcher.phase(42, "running")
    watcher.phase(43, "pending")
    assert len(list_calls(cluster, jobs_path)) >= 2
    # And it keeps watching after the relist.
    cluster.api.set_job_condition(NS, JOB, "Complete")
    watcher.phase(42, "succeeded")


def test_watch_resumes_a_dropped_stream_from_the_last_resource_version(cluster, watcher):
    cluster.backend.submit(make_spec())
    watcher.phase(42, "pending")
    jobs_path = "/apis/batch/v1/jobs?labelSelector=taller.io/job"

    cluster.api.drop_streams()
    running(cluster.api)
    cluster.api.set_job_condition(NS, JOB, "Complete")

    watcher.phase(42, "succeeded")
    assert len(list_calls(cluster, jobs_path)) == 1  # resumed, not relisted
    resumed = watch_calls(cluster, "/apis/batch/v1/jobs?")
    assert len(resumed) >= 2 and all("resourceVersion=" in path for path in resumed)
    assert sum(1 for s in watcher.seen if s.job_id == 42 and s.phase == "succeeded") == 1


def test_watch_survives_an_unreachable_server_and_stop_ends_it(cluster):
    cluster.backend.submit(make_spec())
    cluster.api.fail_next.extend([(503, "the server is shutting down")] * 3)
    watcher = Watcher(cluster.backend)
    watcher.phase(42, "pending")
    assert cluster.api.fail_next == []  # the first lists were refused, and retried
    watcher.close()
    deadline = time.monotonic() + WAIT
    while cluster.api.open_streams() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cluster.api.open_streams() == 0


def test_watch_reports_a_job_deleted_while_running_but_not_one_cleaned_up_after_it_ended(cluster, watcher):
    cluster.backend.submit(make_spec(41))
    cluster.backend.submit(make_spec(42))
    watcher.phase(41, "pending")
    watcher.phase(42, "pending")
    cluster.api.set_job_condition(NS, "taller-41", "Complete")
    watcher.phase(41, "succeeded")

    cluster.api.delete("jobs", NS, "taller-41", "Background")  # ttlSecondsAfterFinished
    cluster.api.delete("jobs", NS, "taller-42", "Background")  # someone deleted it

    watcher.phase(42, "missing", "the Job was deleted from the cluster")
    cluster.backend.submit(make_spec(43))
    watcher.phase(43, "pending")
    assert not any(s.job_id == 41 and s.phase == "missing" for s in watcher.seen)


def test_a_status_the_consumer_could_not_save_is_yielded_again(cluster):
    refused = []

    def refuse(status) -> bool:  # the database was away when the Pod's first status came
        if status.reason == "starting" and not refused:
            refused.append(status)
            return True
        return False

    cluster.backend.submit(make_spec())
    watcher = Watcher(cluster.backend, refuse=refuse)
    try:
        first = watcher.phase(42, "pending", "starting")
        # Not saved, so not taken as seen: it comes again by itself, with no change on the cluster.
        assert watcher.phase(42, "pending", "starting") == first
        # Saved this time: what comes next is the next change, not the same status again.
        running(cluster.api)
        assert watcher.until(lambda s: s.job_id == 42, "42 anything").phase == "running"
    finally:
        watcher.close()


def test_watch_resumes_from_a_bookmark(cluster, watcher):
    cluster.backend.submit(make_spec())
    watcher.phase(42, "pending")
    # Changes the portal's watches do not select move the server's resourceVersion on.
    cluster.api.create("namespaces", "", {"metadata": {"name": "elsewhere"}})
    version = cluster.api.rv

    # The watch ends (TALLER_K8S_WATCH_SECONDS) with a bookmark; the next resumes from it.
    deadline = time.monotonic() + WAIT
    while not any(f"resourceVersion={version}&" in p for p in watch_calls(cluster, "/api/v1/pods?")):
        assert time.monotonic() < deadline, watch_calls(cluster, "/api/v1/pods?")
        time.sleep(0.2)
    running(cluster.api)
    watcher.phase(42, "running")


def test_a_running_job_listed_at_the_start_is_said_running_once(cluster):
    cluster.backend.submit(make_spec())
    running(cluster.api)
    watcher = Watcher(cluster.backend)
    try:
        watcher.phase(42, "running")
        cluster.backend.submit(make_spec(43))
        watcher.phase(43, "pending")
    finally:
        watcher.close()
    # Its status waited for the list of Pods: no "waiting for the pod" before it.
    assert [s.phase for s in watcher.seen if s.job_id == 42] == ["running"]
