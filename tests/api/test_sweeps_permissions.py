"""Every sweeps endpoint under every persona, with real API tokens: anonymous is a 401, an outsider
gets a 404 (a 400 on `project` when it names the project in a new sweep), a viewer reads but every
write is a 403, members, owners and site admins do everything."""

import pytest

from sweeps.models import Sweep, SweepStatus
from tests.sweeps.conftest import body
from tests.sweeps.factories import SweepFactory

PERSONAS = [None, "alice", "bob", "vera", "charlie", "root"]
READ = {None: 401, "alice": 200, "bob": 200, "vera": 200, "charlie": 404, "root": 200}
WRITE = {None: 401, "alice": 200, "bob": 200, "vera": 403, "charlie": 404, "root": 200}
CREATE = {None: 401, "alice": 201, "bob": 201, "vera": 403, "charlie": 400, "root": 201}


@pytest.fixture
def sweep(personas):
    return SweepFactory(project=personas.project, created_by=personas.bob)


@pytest.mark.parametrize("who", PERSONAS)
def test_list_and_show(api, sweep, who):
    response = api(who).get("/api/v1/sweeps/")
    if who is None:
        assert response.status_code == 401
    else:
        ids = [row["id"] for row in response.json()["results"]]
        assert ids == ([] if who == "charlie" else [sweep.pk])
    response = api(who).get(f"/api/v1/sweeps/{sweep.pk}/")
    assert response.status_code == READ[who]
    if READ[who] == 200:
        data = response.json()
        assert data["trials"] == [] and data["best"] is None and data["status_reason"] == "started by bob"


@pytest.mark.parametrize("who", PERSONAS)
@pytest.mark.parametrize(
    ("verb", "data", "status"),
    [
        ("pause", None, SweepStatus.PAUSED),
        ("extend", {"trials": 3}, SweepStatus.RUNNING),
        ("stop", None, SweepStatus.STOPPED),
    ],
)
def test_writes(api, sweep, who, verb, data, status, settings):
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"  # stop ends the parent run when it can
    response = api(who).post(f"/api/v1/sweeps/{sweep.pk}/{verb}/", data)
    assert response.status_code == WRITE[who], response.content
    sweep.refresh_from_db()
    changed = WRITE[who] == 200
    assert sweep.status == (status if changed else SweepStatus.RUNNING)
    assert sweep.max_trials == (7 if changed and verb == "extend" else 4)


@pytest.mark.parametrize("who", PERSONAS)
def test_resume(api, sweep, who):
    Sweep.objects.filter(pk=sweep.pk).update(status=SweepStatus.PAUSED)
    response = api(who).post(f"/api/v1/sweeps/{sweep.pk}/resume/")
    assert response.status_code == WRITE[who]
    sweep.refresh_from_db()
    assert sweep.status == (SweepStatus.RUNNING if WRITE[who] == 200 else SweepStatus.PAUSED)


@pytest.mark.parametrize("who", PERSONAS)
def test_create(api, personas, mlflow_uri, who):
    response = api(who).post("/api/v1/sweeps/", body())
    assert response.status_code == CREATE[who], response.content
    if CREATE[who] == 201:
        data = response.json()
        assert data["status"] == "running" and data["mlflow_run_id"] and data["space"]["x"]["type"] == "float"
        assert Sweep.objects.get().created_by.username == who
    else:
        assert not Sweep.objects.exists()


def test_refusals_are_400_with_the_reason(api, sweep):
    Sweep.objects.filter(pk=sweep.pk).update(status=SweepStatus.STOPPED)
    for verb in ("pause", "resume", "stop"):
        response = api("bob").post(f"/api/v1/sweeps/{sweep.pk}/{verb}/")
        assert response.status_code == 400 and "status" in response.json()
    response = api("bob").post(f"/api/v1/sweeps/{sweep.pk}/extend/", {"trials": 0})
    assert response.status_code == 400 and "trials" in response.json()


def test_the_list_filters_by_project_in_a_bounded_number_of_queries(
    api, personas, sweep, django_assert_max_num_queries
):
    from tests.sweeps.factories import sweep_with_trials

    for _ in range(3):
        sweep_with_trials(personas)
    client = api("bob")
    with django_assert_max_num_queries(12):
        rows = client.get("/api/v1/sweeps/?project=genomics").json()["results"]
    assert len(rows) == 4 and rows[0]["best"]["objective"] == 0.05
    assert client.get("/api/v1/sweeps/?project=other").json()["results"] == []
