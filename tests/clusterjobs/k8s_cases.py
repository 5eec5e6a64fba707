"""What the cluster does to a job, case by case, and the status the portal must read from it.

Each case is (name, steps, phase, reason, exit_code); a step drives the test API server as the
kubelet, the scheduler or the Job controller would."""

from .k8s_api import FakeKubernetes, now

NS = "taller-genomics"
JOB = "taller-42"
DIGEST = "registry.example.edu/ml/train@sha256:" + "ab" * 32


def running(api: FakeKubernetes) -> None:
    api.container_state(
        NS, JOB, {"running": {"startedAt": "2026-11-26T10:00:00Z"}}, "Running", image_id=DIGEST
    )


def terminated(exit_code: int, reason: str, message: str = ""):
    def step(api: FakeKubernetes) -> None:
        state = {
            "exitCode": exit_code,
            "reason": reason,
            "startedAt": "2026-11-26T10:00:00Z",
            "finishedAt": "2026-11-26T10:05:00Z",
        }
        if message:
            state["message"] = message
        api.container_state(
            NS, JOB, {"terminated": state}, "Succeeded" if exit_code == 0 else "Failed", image_id=DIGEST
        )

    return step


def condition(type_: str, reason: str = "", message: str = ""):
    def step(api: FakeKubernetes) -> None:
        api.set_job_condition(NS, JOB, type_, reason, message)

    return step


def waiting(reason: str, message: str):
    def step(api: FakeKubernetes) -> None:
        api.container_state(NS, JOB, {"waiting": {"reason": reason, "message": message}}, "Pending")

    return step


def unschedulable(api: FakeKubernetes) -> None:
    api.set_pod_status(
        NS,
        JOB,
        conditions=[
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "lastTransitionTime": now(),
                "message": "0/4 nodes are available: 4 Insufficient nvidia.com/gpu. preemption: 0/4 nodes are "
                "available: 4 No preemption victims found for incoming pod.",
            }
        ],
    )


PULL_MESSAGE = 'Back-off pulling image "registry.example.edu/ml/train:1.0"'

CASES = [
    ("running", [running], "running", "running", None),
    ("complete", [running, terminated(0, "Completed"), condition("Complete")], "succeeded", "completed", 0),
    (
        "exit-code",
        [
            running,
            terminated(3, "Error", "loss is NaN\n"),
            condition("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
        ],
        "failed",
        "exited with code 3 (Error): loss is NaN",
        3,
    ),
    (
        # No termination-log file: with FallbackToLogsOnError the kubelet hands the end of the log,
        # here an MLflow client sent to an https port where nothing listens.
        "failed, the end of its log as the message",
        [
            running,
            terminated(
                1,
                "Error",
                'Traceback (most recent call last):\n  File "train.py", line 3, in <module>\n'
                "    mlflow.start_run()\n"
                "mlflow.exceptions.MlflowException: API request to "
                "https://taller.example.org/mlflow/api/2.0/mlflow/runs/get failed: too many redirects\n\n",
            ),
            condition("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
        ],
        "failed",
        "exited with code 1 (Error): mlflow.exceptions.MlflowException: API request to "
        "https://taller.example.org/mlflow/api/2.0/mlflow/runs/get failed: too many redirects",
        1,
    ),
    (
        "oom",
        [
            running,
            terminated(137, "OOMKilled"),
            condition("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
        ],
        "failed",
        "out of memory (OOMKilled)",
        137,
    ),
    (
        "deadline",
        [running, condition("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")],
        "failed",
        "time limit exceeded",
        None,
    ),
    (
        "image-pull-backoff",
        [waiting("ImagePullBackOff", PULL_MESSAGE)],
        "pending",
        f"image could not be pulled (ImagePullBackOff): {PULL_MESSAGE}",
        None,
    ),
    (
        "err-image-pull",
        [waiting("ErrImagePull", "rpc error: code = NotFound desc = manifest unknown")],
        "pending",
        "image could not be pulled (ErrImagePull): rpc error: code = NotFound desc = manifest unknown",
        None,
    ),
    (
        "image-pull-until-deadline",
        [
            waiting("ImagePullBackOff", PULL_MESSAGE),
            condition("Failed", "DeadlineExceeded", "Job was active longer than specified deadline"),
        ],
        "failed",
        f"time limit exceeded while waiting: image could not be pulled (ImagePullBackOff): {PULL_MESSAGE}",
        None,
    ),
    (
        "unschedulable",
        [unschedulable],
        "pending",
        "waiting for resources: 0/4 nodes are available: 4 Insufficient nvidia.com/gpu. preemption: 0/4 nodes are "
        "available: 4 No preemption victims found for incoming pod.",
        None,
    ),
]
