"""DVC data versions: a project's DVC remote (owners set it, its key pair stored encrypted and never
shown back), a job's DVC targets read from its commit at submission (a real DVC project, served by
the test git server), the pull step where the job runs (a Kubernetes init container fed by the
job's Secret; the local runner, from a local folder and from an S3-compatible server), and the
data versions recorded on the job's MLflow run as dataset inputs."""

import json

import pytest
import requests

from clusterjobs.models import Job
from clusterjobs.sources import pull, remotes
from clusterjobs.sources.data import remote_path
from clusterjobs.sources.models import DvcRemote
from tests.clusterjobs.factories import dispatched

from .dvcrepo import KEYS
from .test_submit import api

JOBS = "/api/v1/jobs/"
REMOTE = "/api/v1/projects/genomics/dvc-remote/"
PAGE = "/projects/genomics/dvc-remote/"
BUCKET = {
    "kind": "s3",
    "url": "s3://lab-data/genomics",
    "access_key_id": KEYS[0],
    "secret_access_key": KEYS[1],
}


# ---- the project's DVC remote ------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "code"),
    [("alice", 200), ("root", 200), ("bob", 403), ("vera", 403), ("charlie", 404), (None, 401)],
)
def test_only_owners_set_the_dvc_remote(personas, who, code):
    user = getattr(personas, who) if who else None
    response = api(user).put(REMOTE, BUCKET, format="json")
    assert response.status_code == code
    assert KEYS[1] not in response.content.decode() and KEYS[0] not in response.content.decode()
    assert DvcRemote.objects.exists() == (code == 200)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "code"),
    [("alice", 200), ("bob", 200), ("vera", 200), ("root", 200), ("charlie", 404), (None, 401)],
)
def test_members_see_where_it_is_never_its_keys(personas, who, code):
    remotes.set_remote(personas.alice, personas.project, **BUCKET)
    user = getattr(personas, who) if who else None
    response = api(user).get(REMOTE)
    assert response.status_code == code
    assert KEYS[1] not in response.content.decode() and KEYS[0] not in response.content.decode()
    if code == 200:
        assert response.json() | {"set_at": None} == {
            "set": True,
            "kind": "s3",
            "url": "s3://lab-data/genomics",
            "endpoint_url": "",
            "has_credential": True,
            "set_by": "alice",
            "set_at": None,
        }


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["bob", "vera", "charlie", None])
def test_only_owners_clear_it(personas, who):
    remotes.set_remote(personas.alice, personas.project, **BUCKET)
    user = getattr(personas, who) if who else None
    assert api(user).delete(REMOTE).status_code in {401, 403, 404}
    assert DvcRemote.objects.exists()


@pytest.mark.django_db
def test_the_keys_are_stored_encrypted_and_owners_clear_them(personas):
    remotes.set_remote(personas.alice, personas.project, **BUCKET)
    row = DvcRemote.objects.get()
    assert KEYS[1] not in row.secret_access_key_sealed and KEYS[0] not in row.access_key_id_sealed
    assert row.env() == {
        pull.REMOTE: "s3://lab-data/genomics",
        pull.ACCESS_KEY_ID: KEYS[0],
        pull.SECRET_ACCESS_KEY: KEYS[1],
    }
    assert api(personas.root).delete(REMOTE).status_code == 204
    assert api(personas.alice).get(REMOTE).json()["set"] is False


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("asked", "field"),
    [
        ({"kind": "ftp"}, "kind"),
        ({"kind": "s3", "url": "https://lab-data/x"}, "url"),
        ({"kind": "s3", "url": "s3://Lab_Data/x"}, "url"),
        ({"kind": "s3", "url": "s3://lab-data/x", "endpoint_url": "http://127.0.0.1:9000"}, "endpoint_url"),
        ({"kind": "s3", "url": "s3://lab-data/x", "endpoint_url": "https://10.0.0.5"}, "endpoint_url"),
        (
            {"kind": "s3", "url": "s3://lab-data/x", "endpoint_url": "https://u:p@s3.example.org"},
            "endpoint_url",
        ),
        ({"kind": "s3", "url": "s3://lab-data/x", "access_key_id": "AKIA"}, "secret_access_key"),
        ({"kind": "shared", "url": "/etc/dvc"}, "url"),
        ({"kind": "shared", "url": "/srv/dvc/../../etc"}, "url"),
        (
            {"kind": "shared", "url": "/srv/dvc/lab", "secret_access_key": "x", "access_key_id": "y"},
            "access_key_id",
        ),
        ({"kind": "local", "url": "/anywhere"}, "url"),
        ({"kind": "s3", "url": "s3://lab-data/x", "password": "x"}, "password"),
    ],
)
def test_a_bad_remote_is_a_400_per_field(personas, settings, asked, field):
    settings.TALLER_DVC_SHARED_ROOTS = ["/srv/dvc"]
    response = api(personas.alice).put(REMOTE, asked, format="json")
    assert response.status_code == 400 and field in response.json(), response.json()
    assert not DvcRemote.objects.exists()


@pytest.mark.django_db
def test_shared_folders_and_the_portals_own_folder(personas, settings, tmp_path):
    settings.TALLER_DVC_SHARED_ROOTS = [str(tmp_path)]
    shared = api(personas.alice).put(REMOTE, {"kind": "shared", "url": f"{tmp_path}/lab/"}, format="json")
    assert shared.status_code == 200 and shared.json()["url"] == f"{tmp_path}/lab"
    settings.TALLER_EXECUTOR = "kubernetes"
    refused = api(personas.alice).put(REMOTE, {"kind": "local"}, format="json")
    assert refused.status_code == 400 and "local executor only" in refused.json()["kind"][0]
    settings.TALLER_EXECUTOR = "local"
    own = api(personas.alice).put(REMOTE, {"kind": "local"}, format="json")
    folder = settings.VAR_DIR / "dvc" / "genomics"
    assert own.status_code == 200 and own.json()["url"] == str(folder) and folder.is_dir()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "code", "form"),
    [
        ("alice", 200, True),
        ("root", 200, True),
        ("bob", 200, False),
        ("vera", 200, False),
        ("charlie", 404, False),
    ],
)
def test_the_remote_page_shows_where_it_is_and_a_form_to_owners(personas, who, code, form):
    remotes.set_remote(personas.alice, personas.project, **BUCKET)
    response = personas.client(who).get(PAGE)
    assert response.status_code == code
    page = response.content.decode()
    assert KEYS[1] not in page and KEYS[0] not in page
    if code == 200:
        assert "s3://lab-data/genomics" in page and "set by alice" in page
        assert ('id="remote-form"' in page) == form


@pytest.mark.django_db
def test_owners_set_and_remove_it_from_the_page(personas):
    assert personas.client(None).get(PAGE).status_code == 302  # to the sign-in page
    assert personas.client("bob").post(PAGE, BUCKET).status_code == 403
    assert personas.client("vera").post(PAGE, {"remove": "1"}).status_code == 403
    assert not DvcRemote.objects.exists()
    bad = personas.client("alice").post(PAGE, {"kind": "s3", "url": "ftp://x"})
    assert bad.status_code == 200 and "Give the bucket as s3://bucket/prefix." in bad.content.decode()
    saved = personas.client("alice").post(PAGE, BUCKET, follow=True)
    assert "The project&#x27;s DVC remote was saved." in saved.content.decode()
    assert KEYS[1] not in saved.content.decode()
    assert DvcRemote.objects.get().env()[pull.SECRET_ACCESS_KEY] == KEYS[1]
    personas.client("alice").post(PAGE, {"remove": "1"})
    assert not DvcRemote.objects.exists()
    project_page = personas.client("vera").get("/projects/genomics/").content.decode()
    assert f'href="{PAGE}"' in project_page


# ---- submission: the commit's pins -------------------------------------------------------------


def pins_of(repo, *paths):
    return [(path, repo.pins[path]["md5"], repo.pins[path]["size"]) for path in paths]


@pytest.mark.django_db
def test_the_commit_pins_are_read_and_stored_with_the_job(personas, body, mlflow_uri, dvc_git):
    server, repo = dvc_git
    remotes.set_remote(personas.alice, personas.project, **BUCKET)
    body["source"] = {
        "git": server.url("data-lab"),
        "ref": "main",
        "dvc": ["data/train.csv", "./data/prepared.csv"],
    }
    response = api(personas.bob).post(JOBS, body, format="json")
    assert response.status_code == 201, response.json()
    source = Job.objects.get().source
    assert source["commit"] == repo.commit and source["dvc"] == ["data/train.csv", "data/prepared.csv"]
    assert [(p["path"], p["md5"], p["size"]) for p in source["data"]] == pins_of(
        repo, "data/train.csv", "data/prepared.csv"
    )
    assert [p["file"] for p in source["data"]] == ["data/train.csv.dvc", "dvc.lock"]
    assert response.json()["source"]["data"][0]["md5"] == repo.pins["data/train.csv"]["md5"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("target", "path"),
    [("data/train.csv.dvc", "data/train.csv"), ("prepare", "data/prepared.csv")],
)
def test_a_dvc_file_or_a_stage_names_its_outputs(personas, body, mlflow_uri, dvc_git, target, path):
    server, repo = dvc_git
    remotes.set_remote(personas.alice, personas.project, **BUCKET)
    body["source"] = {"git": server.url("data-lab"), "dvc": [target]}
    assert api(personas.bob).post(JOBS, body, format="json").status_code == 201
    assert [(p["path"], p["md5"]) for p in Job.objects.get().source["data"]] == [
        (path, repo.pins[path]["md5"])
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("dvc", "message"),
    [
        (["data/missing.csv"], "The DVC target data/missing.csv is not tracked at commit"),
        (["train.py"], "The DVC target train.py is not tracked at commit"),
        (["../etc/passwd"], "is a path inside the repository"),
        (["/etc/passwd"], "is a path inside the repository"),
        ("data/train.csv", "Give the DVC targets as a list of paths"),
        ([5], "Must be a string or a list of strings"),
    ],
)
def test_a_target_the_commit_does_not_track_is_a_400_naming_it(personas, body, dvc_git, dvc, message):
    server, repo = dvc_git
    remotes.set_remote(personas.alice, personas.project, **BUCKET)
    body["source"] = {"git": server.url("data-lab"), "ref": "main", "dvc": dvc}
    response = api(personas.bob).post(JOBS, body, format="json")
    assert response.status_code == 400
    assert message in json.dumps(response.json()["source"]), response.json()
    assert Job.objects.count() == 0


@pytest.mark.django_db
def test_targets_need_a_git_source_and_a_remote(personas, body, dvc_git):
    server, _repo = dvc_git
    body["source"] = {"git": server.url("data-lab"), "dvc": ["data/train.csv"]}
    refused = api(personas.bob).post(JOBS, body, format="json")
    assert refused.status_code == 400 and "has no DVC remote" in refused.json()["source"][0]
    remotes.set_remote(personas.alice, personas.project, **BUCKET)
    body["source"] = {"snapshot": "a" * 64, "dvc": ["data/train.csv"]}
    assert "need a git source" in api(personas.bob).post(JOBS, body, format="json").json()["source"][0]
    assert Job.objects.count() == 0


@pytest.mark.django_db
def test_pins_sent_with_the_request_are_read_again_from_the_commit(personas, body, mlflow_uri, dvc_git):
    server, repo = dvc_git
    remotes.set_remote(personas.alice, personas.project, **BUCKET)
    forged = [{"path": "data/train.csv", "md5": "0" * 32, "size": 1}]
    body["source"] = {"git": server.url("data-lab"), "dvc": ["data/train.csv"], "data": forged}
    # "data" is not a field one may send (the API refuses a list of objects there) ...
    assert api(personas.bob).post(JOBS, body, format="json").status_code == 400
    # ... and a re-run reads the commit again: the same pins.
    del body["source"]["data"]
    first = Job.objects.get(pk=api(personas.bob).post(JOBS, body, format="json").json()["id"])
    rerun = api(personas.bob).post(f"{JOBS}{first.pk}/rerun/", format="json")
    assert rerun.status_code == 201, rerun.json()
    assert Job.objects.get(pk=rerun.json()["id"]).source["data"] == first.source["data"]


@pytest.mark.django_db
def test_the_form_takes_dvc_targets(personas, mlflow_uri, dvc_git):
    from .test_pages import form_data

    server, repo = dvc_git
    remotes.set_remote(personas.alice, personas.project, **BUCKET)
    url = server.url("data-lab")
    bad = personas.client("bob").post(
        "/projects/genomics/jobs/new/", form_data(source_git=url, source_dvc="data/nope.csv")
    )
    assert bad.status_code == 200 and "The DVC target data/nope.csv is not tracked" in bad.content.decode()
    response = personas.client("bob").post(
        "/projects/genomics/jobs/new/",
        form_data(source_git=url, source_dvc="data/train.csv data/prepared.csv"),
    )
    job = Job.objects.get()
    assert response.status_code == 302 and len(job.source["data"]) == 2
    page = personas.client("vera").get(f"/jobs/{job.pk}/").content.decode()
    assert "data/prepared.csv" in page and repo.pins["data/train.csv"]["md5"][:12] in page
    copied = personas.client("bob").get(f"/projects/genomics/jobs/new/?copy={job.pk}").content.decode()
    assert 'value="data/train.csv data/prepared.csv"' in copied


# ---- the run records the data versions ---------------------------------------------------------


def run_inputs(mlflow_uri: str, run_id: str) -> list[dict]:
    run = requests.get(f"{mlflow_uri}/api/2.0/mlflow/runs/get", params={"run_id": run_id}, timeout=10).json()[
        "run"
    ]
    return run["inputs"]["dataset_inputs"]


@pytest.mark.django_db
def test_the_dispatch_records_each_dvc_input_as_a_dataset_of_the_run(personas, body, mlflow_uri, dvc_git):
    server, repo = dvc_git
    remotes.set_remote(personas.alice, personas.project, **BUCKET)
    body["source"] = {"git": server.url("data-lab"), "dvc": ["data/train.csv", "data/prepared.csv"]}
    job = Job.objects.get(pk=api(personas.bob).post(JOBS, body, format="json").json()["id"])
    job = dispatched(job.pk)  # the dispatch creates the run (clusterjobs.runs), with its inputs
    inputs = run_inputs(mlflow_uri, job.mlflow_run_id)
    md5 = repo.pins["data/train.csv"]["md5"]
    train = next(i for i in inputs if i["dataset"]["name"] == "data/train.csv")
    assert train["dataset"]["digest"] == md5
    assert (
        json.loads(train["dataset"]["source"])["uri"]
        == f"s3://lab-data/genomics/files/md5/{md5[:2]}/{md5[2:]}"
    )
    profile = json.loads(train["dataset"]["profile"])
    assert profile | {"size": None} == {
        "path": "data/train.csv",
        "md5": md5,
        "size": None,
        "remote": "s3://lab-data/genomics",
        "dvc_file": "data/train.csv.dvc",
        "target": "data/train.csv",
    }
    assert profile["size"] == repo.pins["data/train.csv"]["size"]
    tags = {tag["key"]: tag["value"] for tag in train["tags"]}
    assert tags["mlflow.data.context"] == "dvc" and tags["taller.dvc.remote"] == "s3://lab-data/genomics"
    assert sorted(i["dataset"]["name"] for i in inputs) == ["data/prepared.csv", "data/train.csv"]


def test_remote_paths_follow_dvcs_layouts():
    pin = {"md5": "ab" + "c" * 30}
    assert (
        remote_path("/srv/dvc/lab/", {**pin, "layout": "files/md5"})
        == f"/srv/dvc/lab/files/md5/ab/{'c' * 30}"
    )
    assert remote_path("s3://b/p", {**pin, "layout": ""}) == f"s3://b/p/ab/{'c' * 30}"
