"""Registering a model from a run's page: who may, what it makes, and bad input."""

import pytest

from experiments import gateway

from .conftest import log_example

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("forget_registered_models")]
# Members who may change the project register; a viewer neither sees nor may post the form.
REGISTERS = {"alice": 302, "bob": 302, "root": 302, "vera": 403, "charlie": 404}


@pytest.fixture
def logged(personas, physics, mlflow_uri):
    return log_example("genomics")


@pytest.mark.parametrize("who", sorted(REGISTERS))
def test_who_may_register_a_model(personas, logged, who):
    client = personas.client(who)
    run_page = client.get(f"/projects/genomics/runs/{logged.run_id}/")
    if who != "charlie":
        assert ('id="register-section"' in run_page.content.decode()) == (REGISTERS[who] == 302)
    form = client.get(f"/projects/genomics/runs/{logged.run_id}/register/")
    assert form.status_code == (200 if REGISTERS[who] == 302 else REGISTERS[who])
    name = f"by-{who}"
    answer = client.post(
        f"/projects/genomics/runs/{logged.run_id}/register/",
        {"name": name, "logged_model": logged.logged_model_id},
    )
    assert answer.status_code == REGISTERS[who]
    versions = (
        gateway.list_versions("genomics", f"genomics.{name}")["versions"] if REGISTERS[who] == 302 else []
    )
    if REGISTERS[who] == 302:
        assert answer["Location"] == f"/projects/genomics/models/{name}/versions/1/"
        assert versions[0]["run_id"] == logged.run_id
        assert versions[0]["source"] == f"models:/{logged.logged_model_id}"
    else:
        with pytest.raises(gateway.GatewayError):
            gateway.get_model("genomics", f"genomics.{name}")


def test_a_new_version_of_an_existing_model_from_a_folder_links_back_to_its_job(personas, logged):
    client = personas.client("bob")
    gateway.set_run_tags(logged.run_id, {gateway.JOB_TAG: "4242"})  # as the portal tags a job's run
    answer = client.post(
        f"/projects/genomics/runs/{logged.run_id}/register/",
        {"name": "classifier", "logged_model": "", "artifact_path": "notes"},
        HTTP_HX_REQUEST="true",
    )
    assert answer.status_code == 204
    version = answer["HX-Location"].rstrip("/").rsplit("/", 1)[1]
    assert int(version) >= 2  # log_example registered version 1 of genomics.classifier
    page = client.get(answer["HX-Location"]).content.decode()
    assert f'href="/projects/genomics/runs/{logged.run_id}/"' in page  # the source run
    assert 'href="/jobs/4242/"' in page  # and its job, from the version's tag
    listing = client.get("/projects/genomics/models/classifier/").content.decode()
    assert 'href="/jobs/4242/"' in listing


def test_register_bad_input_is_a_field_message(personas, logged, physics):
    client = personas.client("alice")
    url = f"/projects/genomics/runs/{logged.run_id}/register/"
    for data, field_text in [
        ({"name": "", "logged_model": logged.logged_model_id}, "This field is required."),
        ({"name": "a.b", "logged_model": logged.logged_model_id}, "Letters, digits"),
        ({"name": "ok", "logged_model": "m-0000000000000000"}, "This run logged no such model."),
        ({"name": "ok", "logged_model": "", "artifact_path": ""}, "Choose a logged model"),
        ({"name": "ok", "logged_model": "", "artifact_path": "../x"}, "may not leave"),
    ]:
        answer = client.post(url, data, HTTP_HX_REQUEST="true")
        assert answer.status_code == 400 and field_text in answer.content.decode(), data
        assert answer.content.decode().lstrip().startswith("<form"), data
    other = log_example("physics")
    foreign = client.post(
        f"/projects/genomics/runs/{other.run_id}/register/",
        {"name": "x", "logged_model": other.logged_model_id},
    )
    assert foreign.status_code == 404
