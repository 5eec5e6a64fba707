"""Each kind of change records one audit event (who, what, target) in the change's transaction,
and a change that fails records none: jobs, pipelines, schedules, webhooks and notification
choices, tokens, and the model registry through the pages and the tracking proxy (with the real
MLflow server). Metric and parameter logging through the proxy records nothing."""

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from clusterjobs import actions as jobs
from clusterjobs.models import JobStatus
from clusterjobs.validation import check_request
from experiments import actions as models
from experiments import gateway
from pipelines import actions as pipelines
from pipelines import engine, notify, schedules
from pipelines.models import Pipeline, Schedule, StepRun, StepStatus, Webhook
from portal.accounts.actions import create_token, revoke_token
from portal.errors import ServiceUnavailable
from portal.projects.models import AuditEvent
from tests.clusterjobs.factories import JobFactory
from tests.conftest import free_port

pytestmark = pytest.mark.django_db

MLFLOW = "/mlflow/api/2.0/mlflow"


def events() -> list[tuple[str, str, str, str]]:
    """(who, action, kind, target) of every event, oldest first."""
    rows = AuditEvent.objects.order_by("at", "pk").values_list("actor_name", "verb", "kind", "target")
    return list(rows)


def job_request(personas, name: str = "train"):
    return check_request(personas.bob, personas.project, name=name, command=["python", "-c", "print(1)"])


def test_jobs_submit_cancel_rerun_and_templates(personas, mlflow_uri):
    job = jobs.submit_job(personas.bob, personas.project, job_request(personas))
    jobs.cancel_job(personas.alice, job)
    again = jobs.rerun_job(personas.bob, job)
    template = jobs.save_template(personas.bob, personas.project, "Nightly", "", job_request(personas))
    template_id = template.pk
    jobs.delete_template(personas.alice, template)
    assert events() == [
        ("bob", "job.submit", "job", f"job {job.pk}"),
        ("alice", "job.cancel", "job", f"job {job.pk}"),
        ("bob", "job.rerun", "job", f"job {again.pk}"),
        ("bob", "job.template.create", "job", f"job template {template_id}"),
        ("alice", "job.template.delete", "job", f"job template {template_id}"),
    ]


def test_a_submission_mlflow_refuses_records_nothing(personas, settings):
    settings.MLFLOW_TRACKING_URI = f"http://127.0.0.1:{free_port()}"  # nothing listens: rolled back
    with pytest.raises(ServiceUnavailable):
        jobs.submit_job(personas.bob, personas.project, job_request(personas))
    assert events() == []


def test_cancelling_an_ended_job_records_nothing(personas):
    job = JobFactory(project=personas.project, submitter=personas.bob, status=JobStatus.SUCCEEDED)
    with pytest.raises(ValidationError):
        jobs.cancel_job(personas.bob, job)
    assert events() == []


def step(name, *deps):
    return {"name": name, "command": ["python", "-c", "print(1)"], "depends_on": list(deps)}


def test_pipelines_define_run_cancel_rerun(personas, mlflow_uri):
    definition = {"name": "nightly", "steps": [step("prepare"), step("train", "prepare")]}
    pipelines.define_pipeline(personas.bob, personas.project, definition)
    pipelines.define_pipeline(personas.bob, personas.project, definition)  # unchanged: no event
    run = pipelines.start_pipeline(personas.bob, personas.project, definition)
    for claimed in StepRun.objects.filter(run=run, status=StepStatus.STARTING):
        engine.submit_step(claimed.pk)  # what a worker does with the steps the engine claimed
    pipelines.cancel_run(personas.alice, run)
    for step_run in StepRun.objects.filter(run=run).exclude(job=None):
        engine.job_ended(step_run.job_id)  # what the cancelled job's end sends
    run.refresh_from_db()
    again = pipelines.rerun(personas.bob, run)
    recorded = [row for row in events() if row[2] == "pipeline"]
    assert recorded == [
        ("bob", "pipeline.define", "pipeline", "pipeline nightly"),
        ("bob", "pipeline.run", "pipeline", f"pipeline run {run.pk}"),
        ("alice", "pipeline.cancel", "pipeline", f"pipeline run {run.pk}"),
        ("bob", "pipeline.rerun", "pipeline", f"pipeline run {again.pk}"),
    ]
    # The cancel stopped the run's queued job: recorded as that job's cancel, by the same person.
    assert ("alice", "job.cancel") in [(who, verb) for who, verb, _kind, _target in events()]


def test_a_refused_pipeline_records_nothing(personas):
    with pytest.raises(ValidationError):
        pipelines.start_pipeline(personas.bob, personas.project, {"name": "loop", "steps": [step("a", "a")]})
    assert events() == []


@pytest.fixture
def pipeline(personas) -> Pipeline:
    return Pipeline.objects.create(
        project=personas.project, name="nightly", definition={"name": "nightly", "steps": [step("a")]},
        created_by=personas.bob,
    )  # fmt: skip


def test_schedules_create_pause_resume_delete(personas, pipeline):
    schedule = schedules.create_schedule(personas.bob, pipeline, "0 2 * * *", "Europe/Madrid")
    schedules.pause(personas.alice, schedule)
    schedules.pause(personas.alice, schedule)  # already paused: nothing changed, nothing recorded
    schedules.resume(personas.bob, schedule)
    target = f"schedule {schedule.pk}"
    schedules.delete_schedule(personas.alice, schedule)
    assert events() == [
        ("bob", "schedule.create", "schedule", target),
        ("alice", "schedule.pause", "schedule", target),
        ("bob", "schedule.resume", "schedule", target),
        ("alice", "schedule.delete", "schedule", target),
    ]
    with pytest.raises(ValidationError):
        schedules.create_schedule(personas.bob, pipeline, "every night")
    assert len(events()) == 4 and not Schedule.objects.exists()


def test_webhooks_and_notification_choices(personas, settings):
    settings.TALLER_WEBHOOK_TRUSTED_HOSTS = ["127.0.0.1"]
    url = "https://127.0.0.1:8443/services/T000/B000/key-in-the-path"
    webhook = notify.add_webhook(personas.alice, personas.project, url, Webhook.Kind.SIGNED)
    notify.test_delivery(personas.alice, webhook)
    target, secret = f"webhook {webhook.pk}", webhook.secret
    notify.delete_webhook(personas.alice, webhook)
    notify.set_choice(personas.bob, personas.project, on_end=True)
    assert events() == [
        ("alice", "webhook.create", "webhook", target),
        ("alice", "webhook.test", "webhook", target),
        ("alice", "webhook.delete", "webhook", target),
        ("bob", "notification.set", "notification", "user bob"),
    ]
    # The URL's path (a chat service's key) and the signing secret stay out of the log.
    logged = " ".join(AuditEvent.objects.values_list("message", flat=True))
    assert "key-in-the-path" not in logged and secret not in logged and "127.0.0.1" in logged
    with pytest.raises(ValidationError):
        notify.add_webhook(personas.alice, personas.project, "http://example.org/hook")
    assert len(events()) == 4


def test_webhook_and_choice_pages_and_api_record_who(personas, settings):
    settings.TALLER_WEBHOOK_TRUSTED_HOSTS = ["127.0.0.1"]
    personas.client("bob").post("/projects/genomics/notifications/", {"form": "choice", "on_end": "on"})
    webhook = notify.add_webhook(personas.alice, personas.project, "https://127.0.0.1:8443/hook")
    _token, key = create_token(personas.alice, "cli")
    api = Client(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.post(f"/api/v1/projects/genomics/webhooks/{webhook.pk}/test/").status_code == 202
    assert api.delete(f"/api/v1/projects/genomics/webhooks/{webhook.pk}/").status_code == 204
    verbs = [(who, verb) for who, verb, _kind, _target in events()]
    assert verbs == [
        ("bob", "notification.set"),
        ("alice", "webhook.create"),
        ("alice", "token.create"),
        ("alice", "webhook.test"),
        ("alice", "webhook.delete"),
    ]


def test_personal_tokens_are_recorded_and_workload_tokens_are_not(personas):
    token, _key = create_token(personas.bob, "laptop", scope=personas.project)
    revoke_token(token)
    revoke_token(token)  # already revoked: nothing recorded
    job_token, _key = create_token(personas.bob, "job 1", project=personas.project)
    revoke_token(job_token)
    target = f"token {token.prefix}"
    assert events() == [("bob", "token.create", "token", target), ("bob", "token.revoke", "token", target)]
    assert AuditEvent.objects.filter(project=personas.project).count() == 2  # scoped: the project's


def test_model_registry_changes_through_the_pages(personas, mlflow_uri):
    from tests.experiments.conftest import log_example

    logged = log_example("genomics")
    version = models.register_run_model(
        personas.bob, personas.project, logged.run_id, "scorer", artifact_path="notes"
    )
    name = "genomics.scorer"
    models.set_model_alias(personas.bob, personas.project, name, version["version"], "champion")
    models.set_version_tag(personas.bob, personas.project, name, version["version"], "stage", "prod")
    models.delete_model_alias(personas.alice, personas.project, name, "champion")
    assert [row[1:] for row in events()] == [
        ("model.version.create", "model", f"model {name} v1"),
        ("model.alias.set", "model", f"model {name}"),
        ("model.tag.set", "model", f"model {name} v1"),
        ("model.alias.delete", "model", f"model {name}"),
    ]


def test_model_registry_changes_through_the_proxy_and_not_metrics(personas, mlflow_uri):
    _token, key = create_token(personas.bob, "job 1", project=personas.project)  # a job's own token
    proxy = Client(HTTP_AUTHORIZATION=f"Bearer {key}")

    def send(method: str, route: str, body: dict):
        answer = getattr(proxy, method)(f"{MLFLOW}/{route}", body, content_type="application/json")
        assert answer.status_code == 200, answer.content
        return answer.json()

    experiment_id = gateway.ensure_experiment("genomics", "default")
    run = send("post", "runs/create", {"experiment_id": experiment_id})["run"]["info"]["run_id"]
    send("post", "runs/log-metric", {"run_id": run, "key": "loss", "value": 0.5, "timestamp": 0})
    send("post", "runs/log-parameter", {"run_id": run, "key": "lr", "value": "0.1"})
    assert events() == []  # tracking is not audited: the proxy's busiest calls add no write
    send("post", "registered-models/create", {"name": "genomics.proxied"})
    source = f"runs:/{run}/model"
    send("post", "model-versions/create", {"name": "genomics.proxied", "source": source, "run_id": run})
    send("post", "registered-models/alias", {"name": "genomics.proxied", "alias": "prod", "version": "1"})
    send(
        "post",
        "model-versions/set-tag",
        {"name": "genomics.proxied", "version": "1", "key": "k", "value": "v"},
    )
    send("delete", "registered-models/alias", {"name": "genomics.proxied", "alias": "prod"})
    send("delete", "registered-models/delete", {"name": "genomics.proxied"})
    assert events() == [
        ("bob", "model.create", "model", "model genomics.proxied"),
        ("bob", "model.version.create", "model", "model genomics.proxied v1"),
        ("bob", "model.alias.set", "model", "model genomics.proxied v1"),
        ("bob", "model.tag.set", "model", "model genomics.proxied v1"),
        ("bob", "model.alias.delete", "model", "model genomics.proxied"),
        ("bob", "model.delete", "model", "model genomics.proxied"),
    ]
    assert set(AuditEvent.objects.values_list("project__slug", flat=True)) == {"genomics"}
    # A write MLflow refuses (the model is gone) is not recorded.
    missing = proxy.delete(f"{MLFLOW}/registered-models/delete", {"name": "genomics.proxied"},
                           content_type="application/json")  # fmt: skip
    assert missing.status_code == 404 and len(events()) == 6


def test_code_and_data_sources_record_what_changed_never_the_secrets(personas, tmp_path):
    """The git credential, the DVC remote and snapshot deletes: who, what and where; the token,
    the key pair and the key file never reach the log."""
    from clusterjobs.sources import actions as credentials
    from clusterjobs.sources import remotes, snapshots
    from tests.clusterjobs.test_snapshots import archive_of

    credentials.set_credential(personas.alice, personas.project, username="deploy", token="glpat-SECRET")
    credentials.clear_credential(personas.alice, personas.project)
    assert not credentials.clear_credential(personas.alice, personas.project)  # none left: no event
    remotes.set_remote(
        personas.alice,
        personas.project,
        kind="s3",
        url="s3://lab-data/genomics",
        access_key_id="AKIASECRET",
        secret_access_key="SECRETKEY",
    )
    remotes.clear_remote(personas.alice, personas.project)
    digest, data = archive_of(tmp_path, {"train.py": "print(1)\n"})
    snapshots.store_snapshot(personas.bob, personas.project, digest, data)
    snapshots.delete_snapshot(personas.bob, personas.project, digest)
    assert events() == [
        ("alice", "source.git_credential_set", "source", "git credential"),
        ("alice", "source.git_credential_clear", "source", "git credential"),
        ("alice", "source.dvc_remote_set", "source", "DVC remote"),
        ("alice", "source.dvc_remote_clear", "source", "DVC remote"),
        ("bob", "source.snapshot_delete", "source", f"snapshot {digest[:12]}"),
    ]
    messages = " ".join(AuditEvent.objects.values_list("message", flat=True))
    assert "deploy" in messages and "s3://lab-data/genomics" in messages
    assert not any(secret in messages for secret in ("glpat-SECRET", "AKIASECRET", "SECRETKEY"))
