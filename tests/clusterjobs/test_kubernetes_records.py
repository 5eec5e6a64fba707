"""What the watcher and reconcile keep of the cluster's objects (``records.record``) gives the same
status as the whole objects, for every case the status tests check, and drops what status does
not read."""

import pytest

from clusterjobs.backends.kubernetes.records import record
from clusterjobs.backends.kubernetes.status import job_status

from .conftest import make_spec
from .k8s_cases import CASES, JOB, NS


def objects(api) -> tuple[dict, list[dict], list[dict]]:
    """The job's Job, Pods and events as the API server holds them (whole)."""
    return api.get("jobs", NS, JOB), api.pods_of(NS, JOB), api.items("events", NS)


def records(job: dict, pods: list[dict], events: list[dict]) -> tuple[dict, list[dict], list[dict]]:
    return record("jobs", job), [record("pods", p) for p in pods], [record("events", e) for e in events]


@pytest.mark.parametrize(("name", "steps", "phase", "reason", "exit_code"), CASES, ids=[c[0] for c in CASES])
def test_records_give_the_status_of_the_whole_objects(cluster, name, steps, phase, reason, exit_code):
    cluster.backend.submit(make_spec())
    for step in steps:
        step(cluster.api)
    whole = objects(cluster.api)
    kept = records(*whole)

    status = job_status(42, *kept)

    assert status == job_status(42, *whole)
    assert (status.phase, status.reason, status.exit_code) == (phase, reason, exit_code)
    # Kept again, a record is the same record.
    assert records(*kept) == kept
    # What status does not read is not kept: the Pod's spec, the Job's spec and labels but the job id.
    assert "spec" not in kept[0] and all("spec" not in pod for pod in kept[1])
    assert kept[0]["metadata"]["labels"] == {"taller.io/job": "42"}


def test_records_of_a_failed_create_event_give_its_reason(cluster):
    cluster.api.simulate_pods = False
    cluster.backend.submit(make_spec())
    cluster.api.add_event(
        NS, JOB, "FailedCreate", 'Error creating: pods "taller-42-abcde" is forbidden: exceeded quota: q'
    )
    whole = objects(cluster.api)
    assert whole[2] and not whole[1]

    status = job_status(42, *records(*whole))

    assert status == job_status(42, *whole)
    assert status.reason == "the cluster did not create the pod: exceeded quota: q"


def test_a_long_termination_message_is_kept_as_its_last_line(cluster):
    cluster.backend.submit(make_spec())
    log = "\n".join(f"epoch {i}: loss 0.{i}" for i in range(2000)) + "\nRuntimeError: CUDA out of memory\n"
    cluster.api.container_state(
        NS,
        JOB,
        {
            "terminated": {
                "exitCode": 1,
                "reason": "Error",
                "message": log,
                "startedAt": "2026-11-26T10:00:00Z",
            }
        },
        "Failed",
    )
    cluster.api.set_job_condition(NS, JOB, "Failed", "BackoffLimitExceeded")
    whole = objects(cluster.api)
    kept = records(*whole)

    assert job_status(42, *kept) == job_status(42, *whole)
    terminated = kept[1][0]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["message"] == "RuntimeError: CUDA out of memory"
