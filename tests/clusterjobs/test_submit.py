"""Submission through the API and the actions: every bad input is a 400 on its field (or a 403/404),
and nothing is created or dispatched."""

import pytest
import requests
from rest_framework.test import APIClient

from clusterjobs import actions
from clusterjobs.models import Job, JobStatus
from clusterjobs.validation import check_request
from experiments import gateway
from portal.projects.models import Project
from tests.conftest import free_port

from .factories import JobFactory

URL = "/api/v1/jobs/"


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.mark.django_db
def test_member_submits_a_queued_job_in_its_mlflow_experiment(
    personas, body, mlflow_uri, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api(personas.bob).post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["status"] == "queued"
    assert data["project"] == "genomics"
    assert data["env"] == {"SEED": "7", "API_KEY": "••••••"}
    assert "s3cr3t" not in response.content.decode()
    detail = api(personas.bob).get(f"{URL}{data['id']}/").json()
    assert [(t["to_status"], t["reason"]) for t in detail["transitions"]] == [("queued", "submitted by bob")]
    job = Job.objects.get(pk=data["id"])
    assert job.env["API_KEY"] == "s3cr3t" and job.submitter == personas.bob
    assert job.command == body["command"]
    # The project's experiment exists in MLflow; the run waits for the job's dispatch
    # (test_run_start.py).
    experiment = requests.get(
        f"{mlflow_uri}/api/2.0/mlflow/experiments/get", params={"experiment_id": job.mlflow_experiment_id}
    ).json()["experiment"]
    assert (
        experiment["name"] == "genomics/default" and job.mlflow_experiment_id == data["mlflow_experiment_id"]
    )
    assert job.mlflow_run_id == data["mlflow_run_id"] == ""
    # Admission and dispatch wait for the commit: one callback.
    assert len(callbacks) == 1


@pytest.mark.django_db
def test_admission_after_commit_moves_the_job_to_dispatching(
    personas, spec, mlflow_uri, django_capture_on_commit_callbacks, monkeypatch
):
    enqueued = []
    from clusterjobs import tasks

    # The broker is outside our code: record what would be sent to it.
    monkeypatch.setattr(
        tasks.dispatch_job, "apply_async", lambda args, kwargs=None, **options: enqueued.append(args[0])
    )
    with django_capture_on_commit_callbacks(execute=True):
        job = actions.submit_job(
            personas.alice, personas.project, check_request(personas.alice, personas.project, **spec)
        )
    job.refresh_from_db()
    assert job.status == JobStatus.DISPATCHING
    assert enqueued == [job.pk]
    assert [t.to_status for t in job.transitions.all()] == ["queued", "dispatching"]


@pytest.mark.django_db
def test_waits_for_quota_in_fifo_order(
    personas, spec, mlflow_uri, django_capture_on_commit_callbacks, monkeypatch
):
    from clusterjobs import tasks

    monkeypatch.setattr(tasks.dispatch_job, "apply_async", lambda args, kwargs=None, **options: None)
    quota = personas.project.quota
    quota.max_running_jobs = 1
    quota.save()
    with django_capture_on_commit_callbacks(execute=True):
        first = actions.submit_job(
            personas.bob, personas.project, check_request(personas.bob, personas.project, **spec)
        )
    with django_capture_on_commit_callbacks(execute=True):
        second = actions.submit_job(
            personas.bob, personas.project, check_request(personas.bob, personas.project, **spec)
        )
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == JobStatus.DISPATCHING
    assert (second.status, second.status_reason) == (JobStatus.QUEUED, "waiting for quota")


BAD_INPUTS = [
    ("empty command", {"command": []}, ["command"]),
    ("command a string", {"command": "python train.py"}, ["command"]),
    ("command of numbers", {"command": ["python", 5]}, ["command"]),
    ("empty program", {"command": ["", "x"]}, ["command"]),
    ("unknown project", {"project": "nope"}, ["project"]),
    ("bad env name", {"env": {"1BAD": "x"}, "secret_env": []}, ["env"]),
    ("env name with dash", {"env": {"MY-VAR": "x"}, "secret_env": []}, ["env"]),
    ("env name ending in a newline", {"env": {"FOO\n": "x"}, "secret_env": []}, ["env"]),
    ("secret env name ending in a newline", {"env": {"KEY\n": "x"}, "secret_env": ["KEY\n"]}, ["env"]),
    ("reserved env name", {"env": {"MLFLOW_RUN_ID": "x"}, "secret_env": []}, ["env"]),
    ("reserved taller env", {"env": {"TALLER_JOB_ID": "x"}, "secret_env": []}, ["env"]),
    ("env value a number", {"env": {"SEED": 7}, "secret_env": []}, ["env"]),
    ("secret not in env", {"secret_env": ["NOPE"]}, ["secret_env"]),
    ("cpu over the per-job maximum", {"resources": {"cpu": "33"}}, ["resources"]),
    ("cpu zero", {"resources": {"cpu": "0"}}, ["resources"]),
    ("memory not a number", {"resources": {"memory_mib": "lots"}}, ["resources"]),
    ("memory over the maximum", {"resources": {"memory_mib": 10**7}}, ["resources"]),
    ("gpus over the per-job maximum", {"resources": {"gpus": 9}}, ["resources"]),
    ("gpus over the quota", {"resources": {"gpus": 2}}, ["resources"]),
    ("negative gpus", {"resources": {"gpus": -1}}, ["resources"]),
    ("gpu type without gpus", {"resources": {"gpu_type": "A100"}}, ["resources"]),
    ("unknown resource", {"resources": {"gpu": 1}}, ["resources"]),
    ("time limit over the maximum", {"time_limit_minutes": 10081}, ["time_limit_minutes"]),
    ("time limit zero", {"time_limit_minutes": 0}, ["time_limit_minutes"]),
    ("time limit a string", {"time_limit_minutes": "soon"}, ["time_limit_minutes"]),
    ("empty name", {"name": "  "}, ["name"]),
    ("name a number", {"name": 5}, ["name"]),
    ("image with spaces", {"image": "python 3"}, ["image"]),
    ("unknown field", {"priority": "high"}, ["priority"]),
    ("experiment with slash", {"experiment": "a/b"}, ["experiment"]),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("case", "change", "fields"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_a_400_per_field_and_creates_nothing(
    personas, body, case, change, fields, django_capture_on_commit_callbacks
):
    body = {**body, **change}
    if "resources" in change:
        body["resources"] = {**{"cpu": "1", "memory_mib": 1024}, **change["resources"]}
    with django_capture_on_commit_callbacks() as callbacks:
        response = api(personas.bob).post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert sorted(response.json()) == fields, response.json()
    assert Job.objects.count() == 0
    assert callbacks == []


@pytest.mark.django_db
def test_resource_errors_name_the_nested_field(personas, body):
    body["resources"] = {"cpu": "33", "gpus": 2}
    errors = api(personas.bob).post(URL, body, format="json").json()
    # The effective limit: the project's quota (8 cores, 1 GPU) is below the site's (32, 8).
    assert errors["resources"]["cpu"] == ["At most 8 CPU cores for one job here."]
    assert errors["resources"]["gpus"] == ["At most 1 GPU for one job here."]


@pytest.mark.django_db
def test_image_outside_the_allowed_prefixes(personas, body, settings):
    settings.TALLER_ALLOWED_IMAGE_PREFIXES = ["registry.example.org/"]
    response = api(personas.bob).post(URL, body, format="json")
    assert response.status_code == 400
    assert "registry.example.org/" in response.json()["image"][0]
    assert Job.objects.count() == 0


@pytest.mark.django_db
def test_inactive_project_refuses_jobs(personas, body):
    Project.objects.filter(pk=personas.project.pk).update(status=Project.Status.ARCHIVED)
    response = api(personas.alice).post(URL, body, format="json")
    assert response.status_code == 400
    assert "only an active project runs jobs" in response.json()["project"][0]
    assert Job.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(("who", "code"), [("vera", 403), ("charlie", 400), (None, 401)])
def test_only_members_and_owners_submit(personas, body, who, code):
    user = getattr(personas, who) if who else None
    response = api(user).post(URL, body, format="json")
    assert response.status_code == code
    if who == "charlie":  # an outsider cannot tell a project it cannot see from a missing one
        assert response.json() == {"project": ["No such project."]}
    assert Job.objects.count() == 0


@pytest.mark.django_db
def test_mlflow_down_is_a_clear_503_and_nothing_is_created(
    personas, body, settings, django_capture_on_commit_callbacks
):
    settings.MLFLOW_TRACKING_URI = f"http://127.0.0.1:{free_port()}"
    with django_capture_on_commit_callbacks() as callbacks:
        response = api(personas.bob).post(URL, body, format="json")
    assert response.status_code == 503
    assert "MLflow is unavailable" in response.json()["detail"]
    assert Job.objects.count() == 0 and callbacks == []


@pytest.mark.django_db
def test_a_job_token_submits_nothing(personas, body, mlflow_uri):
    from portal.accounts.actions import create_token
    from tests.factories import MembershipFactory, ProjectFactory

    other = ProjectFactory(slug="other")
    MembershipFactory(project=other, user=personas.bob)
    _token, key = create_token(personas.bob, "job", project=other)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    for project in ("genomics", "other"):
        response = client.post(URL, {**body, "project": project}, format="json")
        assert response.status_code == 403
    assert Job.objects.count() == 0
    JobFactory(project=personas.project, submitter=personas.bob)
    assert client.get(URL).status_code == 403


@pytest.mark.django_db
def test_rerun_keeps_the_spec_and_secret_values(personas, spec, mlflow_uri):
    job = actions.submit_job(
        personas.bob, personas.project, check_request(personas.bob, personas.project, **spec)
    )
    response = api(personas.alice).post(f"{URL}{job.pk}/rerun/", format="json")
    assert response.status_code == 201
    new = Job.objects.get(pk=response.json()["id"])
    assert new.pk != job.pk and new.rerun_of == job and new.submitter == personas.alice
    assert (new.command, new.env, new.secret_env_names) == (job.command, job.env, job.secret_env_names)
    assert new.mlflow_experiment_id == job.mlflow_experiment_id and not new.mlflow_run_id
    assert new.transitions.get().reason == f"re-run of job {job.pk} by alice"


@pytest.mark.django_db
def test_gateway_is_reached_for_the_experiment(personas, spec, mlflow_uri):
    job = actions.submit_job(
        personas.bob,
        personas.project,
        check_request(personas.bob, personas.project, **{**spec, "experiment": "sweeps"}),
    )
    assert job.mlflow_experiment_id == gateway.ensure_experiment("genomics", "sweeps")
