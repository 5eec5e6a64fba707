"""A job handed a tracking address that redirects (the https redirect of production settings) or where
nothing answers fails at once with that reason, instead of hanging in `running` with an empty log.
End to end on the local backend: a real worker on the real broker, a real mlflow server for the
submission, the watcher loop."""

import pytest
from django.utils import translation
from rest_framework.test import APIClient

from clusterjobs.dispatch import JOB_MLFLOW_CLIENT_ENV
from clusterjobs.models import JobStatus
from clusterjobs.reasons import translate_reason
from tests.clusterjobs.test_end_to_end import job, wait_for, watcher  # noqa: F401 - a fixture
from tests.conftest import free_port

# A command that would leave a mark if it ran.
MARK = ["python", "-c", "open('ran', 'w').write('yes'); import mlflow; mlflow.start_run()"]


def submit(client: APIClient, name: str) -> int:
    response = client.post(
        "/api/v1/jobs/",
        {
            "project": "genomics",
            "name": name,
            "image": "python:3.11-slim",
            "command": MARK,
            "resources": {"cpu": "1", "memory_mib": 512},
            "time_limit_minutes": 10,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()["id"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("watcher")
def test_redirected_or_unreachable_tracking_fails_the_job(
    personas, settings, mlflow_uri, celery_worker, httpserver
):
    settings.TALLER_EXECUTOR = "local"
    settings.TALLER_LOCAL_POLL_SECONDS = 0.2
    client = APIClient()
    client.force_authenticate(personas.bob)

    # What SECURE_SSL_REDIRECT answers a job that reaches the web processes over plain http.
    https = f"https://127.0.0.1:{httpserver.port}"
    httpserver.expect_request("/mlflow/api/2.0/mlflow/runs/get").respond_with_data(
        "", status=301, headers={"Location": f"{https}/mlflow/api/2.0/mlflow/runs/get"}
    )
    settings.TALLER_JOB_TRACKING_URI = httpserver.url_for("/mlflow")
    redirected = submit(client, "redirected")
    # The address is read at dispatch: wait for it before moving the setting.
    wait_for(lambda: job(redirected).status not in {JobStatus.QUEUED, JobStatus.DISPATCHING}, 60, "dispatch")

    nowhere = f"http://127.0.0.1:{free_port()}/mlflow"  # nothing listens there
    settings.TALLER_JOB_TRACKING_URI = nowhere
    unreachable = submit(client, "unreachable")

    done = wait_for(
        lambda: job(redirected).is_terminal() and job(redirected), 90, "the redirected job to end"
    )
    assert done.status == JobStatus.FAILED
    assert done.status_reason == (
        f"MLflow tracking at {httpserver.url_for('/mlflow')} answered with a redirect to "
        f"{https}/mlflow/api/2.0/mlflow/runs/get"
    )
    assert f"taller: {done.status_reason}" in done.final_log
    assert "TALLER_JOB_PORTAL_URL" in done.final_log
    assert done.mlflow_token.revoked_at is not None

    done = wait_for(lambda: job(unreachable).is_terminal() and job(unreachable), 120, "the unreachable job")
    assert done.status == JobStatus.FAILED
    assert done.status_reason.startswith(f"could not reach MLflow tracking at {nowhere}: ")
    assert "Connection refused" in done.status_reason
    assert f"taller: {done.status_reason}" in done.final_log

    for pk in (redirected, unreachable):
        assert not (settings.VAR_DIR / "jobs" / str(pk) / "ran").exists()  # the command never ran
    with translation.override("es"):
        assert translate_reason(done.status_reason).startswith(
            f"no se pudo contactar con MLflow en {nowhere}: "
        )


@pytest.mark.django_db
def test_jobs_mlflow_client_gives_up_within_a_minute(personas, settings, httpserver):
    """The same bound for every backend: the client's retries sum to well under a minute."""
    from clusterjobs import tasks
    from clusterjobs.backends import get_backend

    from .test_dispatch import admitted, env_of

    settings.TALLER_EXECUTOR = "local"
    settings.TALLER_LOCAL_POLL_SECONDS = 0.1
    httpserver.expect_request("/mlflow/api/2.0/mlflow/runs/get").respond_with_json({"run": {}})
    settings.TALLER_JOB_TRACKING_URI = httpserver.url_for("/mlflow")
    names = "', '".join(JOB_MLFLOW_CLIENT_ENV)
    command = ["python", "-c", f"import os; [print(k + '=' + os.environ[k]) for k in ('{names}',)]"]
    job = admitted(personas, command=command)
    assert tasks.dispatch_job.apply(args=(job.pk,)).get() == "submitted"
    env = env_of(get_backend("local"), job)
    retries = int(env["MLFLOW_HTTP_REQUEST_MAX_RETRIES"])
    factor = int(env["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"])
    # urllib3's backoff: none before the first retry, then factor * 2 ** (n - 1), plus up to 1 s jitter.
    assert sum(factor * 2 ** (n - 1) + 1 for n in range(2, retries + 1)) + 1 < 60
