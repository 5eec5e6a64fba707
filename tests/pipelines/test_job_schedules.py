"""A single job on a schedule, with a controlled clock: made from a template or a job request
(checked as a submission, nothing made when refused), fired by the tick through ``submit_job``,
refusals recorded as for pipelines; and the jobs a schedule starts (directly, or as a pipeline's
steps) marked on the job: its page, the lists, the API field and the ``scheduled`` filter."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from clusterjobs.models import Job, JobTemplate
from pipelines import actions, engine, schedules
from pipelines.models import Schedule, ScheduleEvent, StepRun
from portal.projects.models import Membership

pytestmark = pytest.mark.django_db
JOB = {"name": "nightly-train", "command": ["python", "-c", "print(1)"], "resources": {"cpu": "1"}}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def api(personas, who):
    client = APIClient()
    if who:
        client.force_authenticate(getattr(personas, who))
    return client


@pytest.fixture
def template(personas) -> JobTemplate:
    return JobTemplate.objects.create(
        project=personas.project, title="Evaluate", image="python:3.11-slim",
        command=["python", "-c", "print('eval')"], env={"SEED": "7"}, cpu=Decimal("0.5"), memory_mib=1024,
    )  # fmt: skip


def test_a_template_becomes_a_job_spec(personas, template):
    schedule = schedules.create_job_schedule(
        personas.bob, personas.project, schedules.spec_of_template(template), "0 2 * * *", template=template
    )
    assert schedule.runs_a_job() and schedule.pipeline is None and schedule.template == template
    assert schedule.job_spec == {
        "name": "Evaluate",
        "image": "python:3.11-slim",
        "command": ["python", "-c", "print('eval')"],
        "env": {"SEED": "7"},
        "resources": {"cpu": "0.5", "memory_mib": 1024, "gpus": 0},
        "time_limit_minutes": 60,
        "experiment": "default",
    }
    assert str(schedule) == "Evaluate (0 2 * * *)"


def test_a_refused_job_creates_no_schedule(personas):
    for bad in ({"name": "x", "command": []}, {"name": "x", "command": ["true"], "resources": {"cpu": "99"}},
                {"name": "x", "command": ["true"], "colour": "red"}, {}):  # fmt: skip
        with pytest.raises(Exception) as caught:
            schedules.create_job_schedule(personas.bob, personas.project, bad, "0 2 * * *")
        assert "job" in caught.value.message_dict, bad
    assert not Schedule.objects.exists()


def test_the_tick_submits_the_job_through_submit_job(personas, mlflow_uri):
    schedule = schedules.create_job_schedule(
        personas.bob, personas.project, JOB, "30 2 * * *", "Europe/Madrid"
    )
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=at("2026-06-01T00:30"))
    fired = schedules.tick(at("2026-06-01T00:30:20"))  # sends the fire task after commit
    assert fired == [(schedule.pk, "2026-06-01T00:30:00+00:00")]
    event = schedules.fire(*fired[0])
    job = Job.objects.get()
    assert (event.outcome, event.job, event.run) == ("started", job, None)
    assert (job.name, job.submitter, job.schedule, job.scheduled) == (
        "nightly-train",
        personas.bob,
        schedule,
        True,
    )
    assert job.status == "queued" and job.command == JOB["command"]


def test_refusals_are_recorded_instead_of_jobs(personas, mlflow_uri):
    schedule = schedules.create_job_schedule(personas.bob, personas.project, JOB, "0 2 * * *")
    personas.project.quota.max_cpu = Decimal("0.5")
    personas.project.quota.save()
    event = schedules.fire(schedule.pk, "2026-06-02T00:00:00+00:00")
    assert event.outcome == "refused" and "At most 0.5 CPU cores" in event.message and event.job is None
    Membership.objects.filter(project=personas.project, user=personas.bob).delete()
    event = schedules.fire(schedule.pk, "2026-06-03T00:00:00+00:00")
    assert (event.outcome, event.message) == ("refused", "bob may no longer run the project's jobs")
    assert not Job.objects.exists()


def test_a_scheduled_pipelines_steps_carry_the_schedule(personas, mlflow_uri):
    definition = {"name": "nightly", "steps": [{"name": "only", "command": ["true"]}]}
    pipeline = actions.define_pipeline(personas.bob, personas.project, definition)[0]
    schedule = schedules.create_schedule(personas.bob, pipeline, "0 2 * * *")
    event = schedules.fire(schedule.pk, "2026-06-01T02:00:00+00:00")
    engine.submit_step(StepRun.objects.get(run=event.run).pk)
    job = Job.objects.get()
    assert job.schedule == schedule and job.scheduled
    schedule.delete()  # the job stays marked, without its link
    job.refresh_from_db()
    assert job.schedule is None and job.scheduled


@pytest.fixture
def jobs(personas, mlflow_uri):
    """A job a schedule started and one bob submitted himself."""
    schedule = schedules.create_job_schedule(personas.bob, personas.project, JOB, "0 2 * * *")
    scheduled = schedules.fire(schedule.pk, "2026-06-01T02:00:00+00:00").job
    own = api(personas, "bob").post(
        "/api/v1/jobs/", {"project": "genomics", **JOB, "name": "by-hand"}, format="json"
    )
    assert own.status_code == 201
    return scheduled, Job.objects.get(pk=own.json()["id"]), schedule


def test_the_jobs_api_shows_and_filters_the_mark(personas, jobs):
    scheduled, own, schedule = jobs
    client = api(personas, "alice")
    detail = client.get(f"/api/v1/jobs/{scheduled.pk}/").json()
    assert (detail["schedule"], detail["scheduled"]) == (schedule.pk, True)
    listed = client.get("/api/v1/jobs/?scheduled=true").json()["results"]
    assert [(j["id"], j["schedule"]) for j in listed] == [(scheduled.pk, schedule.pk)]
    assert [j["id"] for j in client.get("/api/v1/jobs/?scheduled=false").json()["results"]] == [own.pk]
    assert client.get("/api/v1/jobs/?scheduled=maybe").status_code == 400
    assert api(personas, "charlie").get("/api/v1/jobs/?scheduled=true").json()["results"] == []


@pytest.mark.parametrize(("who", "status"), [("alice", 200), ("bob", 200), ("vera", 200), ("root", 200),
                                             ("charlie", 404)])  # fmt: skip
def test_the_job_page_and_list_show_the_badge(personas, jobs, who, status):
    scheduled, own, schedule = jobs
    client = personas.client(who)
    page = client.get(f"/jobs/{scheduled.pk}/")
    assert page.status_code == status
    if status != 200:
        return
    link = f'href="/projects/genomics/schedules/#schedule-{schedule.pk}"'
    assert link in page.content.decode() and "status-scheduled" in page.content.decode()
    assert "status-scheduled" not in client.get(f"/jobs/{own.pk}/").content.decode()
    html = client.get("/projects/genomics/jobs/?scheduled=true").content.decode()
    assert f'id="job-{scheduled.pk}"' in html and f'id="job-{own.pk}"' not in html and link in html
    assert 'id="filter-scheduled"' in html


def test_the_schedules_page_makes_job_schedules(personas, template, jobs):
    scheduled, own, _ = jobs
    client = personas.client("bob")
    form = {"cron": "0 3 * * *", "timezone": "UTC", "missed": "skip"}
    assert client.post("/projects/genomics/schedules/", {**form, "template": template.pk}).status_code == 302
    assert client.post("/projects/genomics/schedules/", {**form, "job": own.pk}).status_code == 302
    made = Schedule.objects.filter(cron="0 3 * * *").order_by("pk")
    assert [(s.template_id, s.job_spec["name"]) for s in made] == [
        (template.pk, "Evaluate"),
        (None, "by-hand"),
    ]
    both = client.post("/projects/genomics/schedules/", {**form, "template": template.pk, "job": own.pk})
    assert "Choose one: a pipeline, a template or an earlier job." in both.content.decode()
    ghost = client.post("/projects/genomics/schedules/", {**form, "job": 999999})
    assert "This project has no job of this number." in ghost.content.decode()
    personas.project.quota.max_cpu = Decimal("0.5")
    personas.project.quota.save()
    refused = client.post("/projects/genomics/schedules/", {**form, "job": own.pk}).content.decode()
    assert "At most 0.5 CPU cores" in refused
    assert made.count() == 2
    html = client.get("/projects/genomics/schedules/").content.decode()
    assert "job Evaluate" in html and "from the template “Evaluate”" in html
    assert f'href="/jobs/{scheduled.pk}/"' in html  # the event that started it
    assert ScheduleEvent.objects.filter(job=scheduled).exists()


def test_the_api_schedules_a_template_or_a_job_request(personas, template):
    client = api(personas, "bob")
    base = {"project": "genomics", "cron": "0 2 * * *", "timezone": "Europe/Madrid"}
    made = client.post("/api/v1/schedules/", {**base, "template": template.pk}, format="json")
    assert made.status_code == 201, made.json()
    body = made.json()
    assert (body["pipeline"], body["template"], body["job"]["name"]) == (None, template.pk, "Evaluate")
    secret = {**JOB, "env": {"TOKEN": "s3cret"}, "secret_env": ["TOKEN"]}
    made = client.post("/api/v1/schedules/", {**base, "job": secret}, format="json")
    assert made.status_code == 201 and made.json()["job"]["env"] == {"TOKEN": "••••••"}
    assert len(made.json()["next_times"]) == 5
    listed = client.get("/api/v1/schedules/").json()["results"]
    assert [row["job"]["name"] for row in listed] == ["Evaluate", "nightly-train"]
    for bad, field in [({"template": 999999}, "template"), ({"job": {**JOB, "command": "true"}}, "job"),
                       ({"job": JOB, "template": template.pk}, "job"), ({}, "pipeline")]:  # fmt: skip
        response = client.post("/api/v1/schedules/", {**base, **bad}, format="json")
        assert response.status_code == 400 and field in response.json(), (bad, response.json())
    assert Schedule.objects.count() == 2


@pytest.mark.parametrize(("who", "status"), [("vera", 403), ("charlie", 400), (None, 401)])
def test_others_cannot_schedule_a_job(personas, template, who, status):
    base = {"project": "genomics", "cron": "0 2 * * *"}
    for target in ({"job": JOB}, {"template": template.pk}):
        response = api(personas, who).post("/api/v1/schedules/", {**base, **target}, format="json")
        assert response.status_code == status
    assert not Schedule.objects.exists()


@pytest.mark.parametrize(("who", "status"), [("vera", 403), ("charlie", 404)])
def test_others_cannot_schedule_a_job_from_the_page(personas, template, who, status):
    form = {"cron": "0 3 * * *", "timezone": "UTC", "missed": "skip", "template": template.pk}
    assert personas.client(who).post("/projects/genomics/schedules/", form).status_code == status
    assert personas.client(None).post("/projects/genomics/schedules/", form).status_code == 302
    assert not Schedule.objects.exists()
