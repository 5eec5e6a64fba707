"""Code snapshots: uploaded once per project under their SHA-256 (the API checks the name against
the bytes, the size against the site's limit and the archive's members), stored through Django's
storage API, named in a job's source, recorded on its run, and unpacked by the local executor
where the job's command then runs."""

import hashlib
import io
import tarfile

import pytest
import requests

from clusterjobs.models import Job
from clusterjobs.sources.models import CodeSnapshot
from clusterjobs.sources.snapshots import storage
from taller_cli.snapshots import pack
from tests.clusterjobs.factories import dispatched

from .conftest import make_spec
from .test_submit import api

TRAIN = "import os\nprint('trained from a snapshot in', os.getcwd())\n"


@pytest.fixture(autouse=True)
def _snapshot_storage(settings, tmp_path):
    backend = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    settings.STORAGES = {
        **settings.STORAGES,
        "snapshots": {**backend, "OPTIONS": {"location": str(tmp_path / "snaps")}},
    }


def archive_of(tmp_path, files: dict[str, str]) -> tuple[str, bytes]:
    folder = tmp_path / "code"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    data = pack(str(folder))
    return hashlib.sha256(data).hexdigest(), data


def put(user, digest: str, data: bytes, project: str = "genomics"):
    url = f"/api/v1/projects/{project}/snapshots/{digest}/"
    return api(user).put(url, data, content_type="application/octet-stream")


def test_packing_honours_gitignore_and_gives_the_same_bytes_twice(tmp_path):
    files = {
        "train.py": TRAIN,
        ".gitignore": "data/\n*.ckpt\n",
        "data/big.bin": "x",
        "model.ckpt": "y",
        "src/a.py": "",
    }
    digest, data = archive_of(tmp_path, files)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert tar.getnames() == [".gitignore", "src/a.py", "train.py"]
    assert archive_of(tmp_path, {})[0] == digest


@pytest.mark.django_db
def test_an_upload_is_stored_once_and_members_see_it(personas, tmp_path):
    digest, data = archive_of(tmp_path, {"train.py": TRAIN})
    assert api(personas.bob).get(f"/api/v1/projects/genomics/snapshots/{digest}/").status_code == 404
    first = put(personas.bob, digest, data)
    assert first.status_code == 201, first.json()
    assert first.json()["size"] == len(data) and first.json()["created_by"] == "bob"
    name = f"genomics/{digest}.tar.gz"
    written = storage().get_modified_time(name)
    assert put(personas.alice, digest, data).status_code == 200
    assert storage().get_modified_time(name) == written and CodeSnapshot.objects.count() == 1
    for who, code in [("vera", 200), ("root", 200), ("charlie", 404)]:
        assert (
            api(getattr(personas, who)).get(f"/api/v1/projects/genomics/snapshots/{digest}/").status_code
            == code
        )
    assert api().get(f"/api/v1/projects/genomics/snapshots/{digest}/").status_code == 401


@pytest.mark.django_db
def test_bad_uploads_are_refused_and_store_nothing(personas, tmp_path, settings):
    digest, data = archive_of(tmp_path, {"train.py": TRAIN})
    assert put(personas.vera, digest, data).status_code == 403
    assert put(personas.charlie, digest, data).status_code == 404
    wrong = put(personas.bob, "0" * 64, data)
    assert wrong.status_code == 400 and "SHA-256 is not the one named" in wrong.json()["digest"][0]
    assert put(personas.bob, "not-a-digest", data).status_code == 400
    escaping = io.BytesIO()
    with tarfile.open(fileobj=escaping, mode="w:gz") as tar:
        info = tarfile.TarInfo("../outside.py")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    unsafe = put(personas.bob, hashlib.sha256(escaping.getvalue()).hexdigest(), escaping.getvalue())
    assert unsafe.status_code == 400 and "only plain files and folders" in unsafe.json()["archive"][0]
    settings.TALLER_SNAPSHOT_MAX_BYTES = 100
    assert put(personas.bob, digest, data).status_code == 413
    assert CodeSnapshot.objects.count() == 0


@pytest.mark.django_db
def test_a_job_from_a_snapshot_records_its_digest(personas, body, tmp_path, mlflow_uri, settings):
    settings.TALLER_EXECUTOR = "local"
    digest, data = archive_of(tmp_path, {"train.py": TRAIN})
    body["source"] = {"snapshot": digest}
    missing = api(personas.bob).post("/api/v1/jobs/", body, format="json")
    assert missing.status_code == 400 and "upload it first" in missing.json()["source"][0]
    put(personas.bob, digest, data)
    bad_git = api(personas.bob).post(
        "/api/v1/jobs/", {**body, "source": {"snapshot": digest, "git": "x"}}, format="json"
    )
    assert bad_git.status_code == 400 and "Only https://, ssh://" in bad_git.json()["source"][0]
    response = api(personas.bob).post("/api/v1/jobs/", body, format="json")
    assert response.status_code == 201, response.json()
    job = Job.objects.get()
    assert job.source == {"snapshot": digest}
    job = dispatched(job.pk)  # the dispatch creates the run (clusterjobs.runs), with the source tags
    run = requests.get(f"{mlflow_uri}/api/2.0/mlflow/runs/get", params={"run_id": job.mlflow_run_id}).json()
    tags = {tag["key"]: tag["value"] for tag in run["run"]["data"]["tags"]}
    assert tags["taller.source.snapshot"] == f"sha256:{digest}"
    page = personas.client("vera").get(f"/jobs/{job.pk}/").content.decode()
    assert f"sha256:{digest[:12]}" in page
    settings.TALLER_EXECUTOR = "kubernetes"  # the cluster's unpack step fetches it from the portal
    assert api(personas.bob).post("/api/v1/jobs/", body, format="json").status_code == 201


@pytest.mark.django_db
def test_the_local_executor_runs_the_job_in_an_unpacked_copy(personas, local, tmp_path, settings):
    digest, data = archive_of(tmp_path, {"train.py": TRAIN, "pkg/util.py": ""})
    put(personas.bob, digest, data)
    local.submit(
        make_spec(61, command=["python", "train.py"], source={"snapshot": digest}, time_limit_seconds=60)
    )
    status = local.wait(61, 60)
    lines = local.logs(61, "genomics")
    assert status.phase == "succeeded", (status.reason, lines)
    workspace = settings.VAR_DIR / "jobs" / "61" / "workspace"
    assert "taller: unpacked 2 files of the code snapshot" in lines
    assert f"trained from a snapshot in {workspace}" in lines

    storage().save("genomics/" + "e" * 64 + ".tar.gz", io.BytesIO(b"not a tar.gz"))
    local.submit(
        make_spec(62, command=["python", "train.py"], source={"snapshot": "e" * 64}, time_limit_seconds=60)
    )
    broken = local.wait(62, 60)
    assert broken.phase == "failed" and broken.reason.startswith("unpack failed (exit code 1)"), broken.reason
