"""Provenance pages and API of a job, a run and a model version against the session's real MLflow:
the chain version → run → job → commit, image digest, data versions, parameters, command, resources,
GPU-hours and submitter, and back; every persona; MLflow down; the RO-Crate read back by ro-crate-py."""

import io
import json
import zipfile

import pytest
from django.core.cache import cache
from rocrate.rocrate import ROCrate

from clusterjobs.models import Job
from portal.accounts.actions import create_token
from portal.projects.models import Role
from tests.api.conftest import TokenClient
from tests.conftest import free_port
from tests.factories import MembershipFactory, ProjectFactory

from .provenance_setup import COMMIT, DIGEST, made_job

pytestmark = pytest.mark.django_db

COMMIT_PAGE = f"https://github.com/lab/genomics-train/commit/{COMMIT}"


@pytest.fixture(autouse=True)
def _fresh_scope_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api(personas):
    """``api("bob")``: a client with a fresh token of bob; ``api(None)`` sends none."""
    return lambda who: TokenClient(create_token(getattr(personas, who), "test")[1] if who else None)


@pytest.fixture
def made(personas, mlflow_uri):
    personas.bob.first_name, personas.bob.last_name, personas.bob.email = "Bob", "Builder", "bob@example.edu"
    personas.bob.save()
    return made_job(personas.project, personas.bob, mlflow_uri=mlflow_uri)


def pages(made) -> dict[str, str]:
    short = made.model.split(".", 1)[1]
    return {
        "job": f"/jobs/{made.job.pk}/provenance/",
        "run": f"/projects/genomics/provenance/runs/{made.run_id}/",
        "version": f"/projects/genomics/provenance/models/{short}/versions/{made.version}/",
    }


def parts(made, slug: str = "genomics") -> dict[str, str]:
    """The fragments the pages load: the versions registered from the run, the run's details."""
    return {
        "versions": f"/projects/{slug}/provenance/runs/{made.run_id}/model-versions/",
        "run": f"/projects/{slug}/provenance/runs/{made.run_id}/details/",
    }


def test_the_job_page_walks_the_whole_chain(personas, made, django_assert_max_num_queries):
    vera = personas.client("vera")
    with django_assert_max_num_queries(8):
        response = vera.get(pages(made)["job"])
    assert response.status_code == 200
    html = response.content.decode()
    assert f'href="{COMMIT_PAGE}"' in html
    assert DIGEST in html and "python:3.11-slim" in html
    assert "cells.csv" in html and "d41d8cd98f00b204e9800998ecf8427e" in html and "s3://lab/dvc" in html
    assert "lr" in html and "0.01" in html
    assert "<code>train.py</code>" in html and "<code>--epochs</code>" in html
    assert 'id="gpu-hours">1.5<' in html
    assert "Bob Builder (bob)" in html and "bob@example.edu" not in html
    assert 'id="reproduce"' not in html  # a viewer sees no button
    # What came from it loads as a fragment (htmx), with a link to it for a browser without JS.
    assert f'hx-get="{parts(made)["versions"]}"' in html and "<noscript>" in html
    fragment = vera.get(parts(made)["versions"], headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.content.decode()
    assert f"{made.model} version {made.version}" in fragment.content.decode()
    whole = vera.get(parts(made)["versions"]).content.decode()  # the noscript link: a page of its own
    assert "<html" in whole and f"{made.model} version {made.version}" in whole


def test_the_run_and_version_pages_find_the_job(personas, made):
    bob = personas.client("bob")
    for kind in ("run", "version"):
        response = bob.get(pages(made)[kind])
        assert response.status_code == 200, kind
        html = response.content.decode()
        assert f"job {made.job.pk}: train" in html and 'id="reproduce"' in html
    assert "run-part" in html and "Model versions from this run" not in html  # the version page
    # The version page's run (code, data, parameters) is a fragment of its own.
    assert f'hx-get="{parts(made)["run"]}"' in html and COMMIT_PAGE not in html
    fragment = bob.get(parts(made)["run"], headers={"HX-Request": "true"}).content.decode()
    assert (
        COMMIT_PAGE in fragment and "cells.csv" in fragment and "0.01" in fragment and "<html" not in fragment
    )


@pytest.mark.parametrize(
    ("who", "status"),
    [(None, 302), ("charlie", 404), ("vera", 200), ("bob", 200), ("alice", 200), ("root", 200)],
)
def test_who_sees_the_fragments(personas, made, who, status):
    for kind, address in parts(made).items():
        for headers in ({}, {"HX-Request": "true"}):
            response = personas.client(who).get(address, headers=headers)
            assert response.status_code == status, (kind, headers)
            if status == 200:
                assert "cells.csv" in response.content.decode() or made.model in response.content.decode()


def test_the_model_versions_own_page_reproduces_its_job(personas, made, settings):
    """The version's page has the Reproduce button (for who may submit), asking first; it submits
    the reproduction of the job the version was registered from."""
    settings.TALLER_GIT_TRUSTED_HOSTS = ["github.com"]  # no name lookups in tests
    url = f"/projects/genomics/models/classifier/versions/{made.version}/"
    assert 'id="reproduce-version"' not in personas.client("vera").get(url).content.decode()
    html = personas.client("bob").get(url).content.decode()
    form = html.split('id="reproduce-version"', 1)[0].rsplit("<form", 1)[1]
    assert f'action="/jobs/{made.job.pk}/reproduce/"' in form and "data-confirm=" in form
    assert f'name="next" value="{url}"' in form
    answer = personas.client("bob").post(f"/jobs/{made.job.pk}/reproduce/", {"next": url})
    new = Job.objects.get(reproduced_from=made.job)
    assert answer.status_code == 302 and answer["Location"] == f"/jobs/{new.pk}/"


def test_the_runs_own_page_shows_its_data_versions_and_commit(personas, made):
    """The run's page (not only its provenance) shows each dataset input the DVC work logged with
    its md5, and the commit from MLflow's source tags."""
    html = personas.client("vera").get(f"/projects/genomics/runs/{made.run_id}/").content.decode()
    datasets = html.split('id="run-datasets"', 1)[1].split("</section>", 1)[0]
    assert "cells.csv" in datasets and "<code>d41d8cd98f00b204e9800998ecf8427e</code>" in datasets
    assert "training" in datasets  # what it was used for
    assert COMMIT in html


@pytest.mark.parametrize(
    ("who", "status"),
    [(None, 302), ("charlie", 404), ("vera", 200), ("bob", 200), ("alice", 200), ("root", 200)],
)
def test_who_sees_the_pages(personas, made, who, status):
    for kind, address in pages(made).items():
        assert personas.client(who).get(address).status_code == status, kind


@pytest.mark.parametrize(
    ("who", "status"),
    [(None, 401), ("charlie", 404), ("vera", 200), ("bob", 200), ("alice", 200), ("root", 200)],
)
def test_who_reads_the_api(api, personas, made, who, status):
    short = made.model.split(".", 1)[1]
    client = api(who)
    for address in (
        f"/api/v1/jobs/{made.job.pk}/provenance/",
        f"/api/v1/provenance/?run={made.run_id}",
        f"/api/v1/provenance/?project=genomics&model={short}&version={made.version}",
        f"/api/v1/jobs/{made.job.pk}/provenance/ro-crate/",
    ):
        assert client.get(address).status_code == status, address


def test_a_model_version_of_another_project_is_not_found(personas, mlflow_uri, api):
    physics = ProjectFactory(slug="physics", name="Physics", requested_by=personas.charlie)
    MembershipFactory(project=physics, user=personas.charlie, role=Role.OWNER)
    theirs = made_job(physics, personas.charlie, model="secret", mlflow_uri=mlflow_uri)
    bob = personas.client("bob")
    assert (
        bob.get(f"/projects/genomics/provenance/models/physics.secret/versions/{theirs.version}/").status_code
        == 404
    )
    assert (
        bob.get(f"/projects/physics/provenance/models/secret/versions/{theirs.version}/").status_code == 404
    )
    assert bob.get(f"/projects/genomics/provenance/runs/{theirs.run_id}/").status_code == 404
    assert bob.get(f"/jobs/{theirs.job.pk}/provenance/").status_code == 404
    # Their run's fragments: not through their project (not bob's), and nothing of theirs
    # through his own.
    for address in parts(theirs, "physics").values():
        assert bob.get(address).status_code == 404
        assert bob.get(address, headers={"HX-Request": "true"}).status_code == 404
    assert bob.get(parts(theirs)["run"]).status_code == 404
    hx = bob.get(parts(theirs)["run"], headers={"HX-Request": "true"}).content.decode()
    assert "was not found in this project" in hx and "physics" not in hx.split("<section", 1)[-1]
    versions = bob.get(parts(theirs)["versions"], headers={"HX-Request": "true"}).content.decode()
    assert "physics.secret" not in versions and 'id="no-model-versions"' in versions
    bob_api = api("bob")
    assert bob_api.get(f"/api/v1/provenance/?run={theirs.run_id}").status_code == 404
    assert bob_api.get("/api/v1/provenance/?project=physics&model=secret&version=1").status_code == 404
    assert bob_api.post("/api/v1/reproductions/", {"from": {"run": theirs.run_id}}).status_code == 404
    assert personas.client("charlie").get(f"/jobs/{theirs.job.pk}/provenance/").status_code == 200


def test_the_api_answers_the_same_trail(api, personas, made):
    data = api("vera").get(f"/api/v1/provenance/?run={made.run_id}").json()
    assert data["job"]["id"] == made.job.pk and data["job"]["gpu_hours"] == 1.5
    assert data["job"]["submitted_by"] == {"username": "bob", "name": "Bob Builder"}
    assert data["code"]["commit"] == COMMIT and data["code"]["commit_url"] == COMMIT_PAGE
    assert data["image"]["pinned"] == f"python:3.11-slim@{DIGEST}"
    assert data["data"] == [
        {
            "name": "cells.csv",
            "digest": "d41d8cd98f00b204e9800998ecf8427e",
            "source_type": "dvc",
            "source": '{"path": "data/cells.csv", "remote": "s3://lab/dvc"}',
            "context": "training",
        }
    ]
    assert data["parameters"] == {"epochs": "3", "lr": "0.01"}
    assert [(v["name"], v["version"]) for v in data["model_versions"]] == [(made.model, made.version)]
    assert data["mlflow_error"] == ""
    assert api("vera").get("/api/v1/provenance/").status_code == 400
    assert api("vera").get(f"/api/v1/provenance/?job={made.job.pk}&run={made.run_id}").status_code == 400
    assert api("vera").get("/api/v1/provenance/?job=x").status_code == 400
    assert api("vera").get("/api/v1/provenance/?run=nope").status_code == 404


def test_mlflow_down_is_said(personas, made, settings, api):
    settings.MLFLOW_TRACKING_URI = f"http://127.0.0.1:{free_port()}"
    response = personas.client("bob").get(pages(made)["job"])
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="mlflow-error"' in html and "MLflow is unavailable" in html and COMMIT_PAGE in html
    assert personas.client("bob").get(pages(made)["version"]).status_code == 502
    for kind, address in parts(made).items():  # said inside the fragment, which htmx swaps in
        fragment = personas.client("bob").get(address, headers={"HX-Request": "true"})
        assert fragment.status_code == 200 and "MLflow is unavailable" in fragment.content.decode(), kind
    data = api("bob").get(f"/api/v1/jobs/{made.job.pk}/provenance/").json()
    assert "MLflow is unavailable" in data["mlflow_error"] and data["code"]["commit"] == COMMIT
    short = made.model.split(".", 1)[1]
    assert api("bob").get(f"/api/v1/provenance/?project=genomics&model={short}&version=1").status_code == 503


def entities(crate: ROCrate) -> dict:
    return {entity.id: entity for entity in crate.get_entities()}


def test_the_ro_crate_reads_back(personas, made, tmp_path):
    response = personas.client("vera").get(pages(made)["version"] + "?download=zip")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = tmp_path / "crate.zip"
    archive.write_bytes(b"".join(response.streaming_content) if response.streaming else response.content)
    with zipfile.ZipFile(io.BytesIO(archive.read_bytes())) as zipped:
        assert "bob@example.edu" not in zipped.read("ro-crate-metadata.json").decode()
    crate = ROCrate(archive)
    found = entities(crate)
    action = found[f"#job-{made.job.pk}"]
    assert action.type == "CreateAction"
    instrument = {e.id: e for e in action["instrument"]}
    assert instrument["#code"]["version"] == COMMIT and instrument["#code"]["url"] == COMMIT_PAGE
    assert instrument["#image"]["identifier"].endswith(DIGEST)
    objects = {e["name"]: e for e in action["object"]}
    assert objects["cells.csv"].type == "Dataset" and objects["cells.csv"]["identifier"].startswith("d41d8")
    assert objects["lr"].type == "PropertyValue" and objects["lr"]["value"] == "0.01"
    results = {e.id for e in action["result"]}
    assert f"#run-{made.run_id}" in results and f"#model-{made.model}-{made.version}" in results
    assert action["agent"]["name"] == "Bob Builder"
    assert "python train.py --epochs 3" == action["description"]


def test_the_ro_crate_metadata_file_reads_back(api, made, tmp_path):
    response = api("bob").get(f"/api/v1/provenance/ro-crate/?job={made.job.pk}&as=json")
    assert response.status_code == 200
    folder = tmp_path / "crate"
    folder.mkdir()
    (folder / "ro-crate-metadata.json").write_bytes(response.content)
    json.loads(response.content)
    crate = ROCrate(folder)
    assert entities(crate)[f"#job-{made.job.pk}"].type == "CreateAction"
    assert api("bob").get(f"/api/v1/provenance/ro-crate/?job={made.job.pk}&as=pdf").status_code == 400
