"""The schedules API for each persona: define a pipeline, schedule it, see the next five times,
pause, resume, delete; bad expressions are a 400 and create nothing."""

import pytest
from rest_framework.test import APIClient

from pipelines import actions
from pipelines.models import Pipeline, Schedule

pytestmark = pytest.mark.django_db
DEFINITION = {"name": "nightly", "steps": [{"name": "only", "command": ["true"]}]}


def api(personas, who):
    client = APIClient()
    if who:
        client.force_authenticate(getattr(personas, who))
    return client


@pytest.fixture
def pipeline(personas) -> Pipeline:
    return actions.define_pipeline(personas.bob, personas.project, DEFINITION)[0]


def body(**extra):
    return {
        "project": "genomics",
        "pipeline": "nightly",
        "cron": "0 2 * * *",
        "timezone": "Europe/Madrid",
        **extra,
    }


def test_define_schedule_pause_resume_delete(personas):
    client = api(personas, "bob")
    defined = client.post("/api/v1/pipelines/define/", {"project": "genomics", **DEFINITION}, format="json")
    assert defined.status_code == 201 and defined.json()["name"] == "nightly"
    response = client.post("/api/v1/schedules/", body(missed="once"), format="json")
    assert response.status_code == 201, response.json()
    schedule = response.json()
    assert schedule["timezone"] == "Europe/Madrid" and schedule["missed"] == "once" and schedule["active"]
    assert len(schedule["next_times"]) == 5 and schedule["next_run_at"]
    paused = client.post(f"/api/v1/schedules/{schedule['id']}/pause/").json()
    assert paused["paused"] and not paused["active"] and paused["next_times"] == []
    resumed = client.post(f"/api/v1/schedules/{schedule['id']}/resume/").json()
    assert not resumed["paused"] and len(resumed["next_times"]) == 5
    assert client.delete(f"/api/v1/schedules/{schedule['id']}/").status_code == 204
    assert not Schedule.objects.exists()


def test_bad_input_creates_nothing(personas, pipeline):
    client = api(personas, "bob")
    for bad, field in [({"cron": "nightly"}, "cron"), ({"cron": "* * * * *"}, "cron"), ({"timezone": "Nowhere"}, "timezone"),
                       ({"pipeline": "ghost"}, "pipeline"), ({"missed": "twice"}, "missed")]:  # fmt: skip
        response = client.post("/api/v1/schedules/", body(**bad), format="json")
        assert response.status_code == 400 and field in response.json(), (bad, response.json())
    assert not Schedule.objects.exists()


@pytest.mark.parametrize(("who", "status"), [("vera", 403), ("charlie", 400), (None, 401)])
def test_others_cannot_schedule(personas, pipeline, who, status):
    assert api(personas, who).post("/api/v1/schedules/", body(), format="json").status_code == status
    assert not Schedule.objects.exists()


@pytest.mark.parametrize(
    ("who", "seen", "change"),
    [("alice", True, 200), ("vera", True, 403), ("root", True, 200), ("charlie", False, 404)],
)
def test_who_sees_and_changes_schedules(personas, pipeline, who, seen, change):
    schedule = api(personas, "bob").post("/api/v1/schedules/", body(), format="json").json()
    client = api(personas, who)
    assert len(client.get("/api/v1/schedules/").json()["results"]) == (1 if seen else 0)
    assert client.get(f"/api/v1/schedules/{schedule['id']}/").status_code == (200 if seen else 404)
    assert client.post(f"/api/v1/schedules/{schedule['id']}/pause/").status_code == change
    assert client.delete(f"/api/v1/schedules/{schedule['id']}/").status_code == (
        204 if change == 200 else change
    )
