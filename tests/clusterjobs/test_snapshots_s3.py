"""Code snapshots in an S3-compatible bucket, as production keeps them: the "snapshots" storage
built from the TALLER_SNAPSHOT_S3_* variables (django-storages), against a real S3-compatible
server started here (moto's server mode on 127.0.0.1). A snapshot is uploaded once by its digest,
downloaded (by people and by the local executor, which copies it out of the bucket), and deleted."""

import boto3
import pytest

from clusterjobs.sources.snapshots import storage
from portal.settings import snapshot_storage
from tests.conftest import free_port

from .conftest import make_spec
from .factories import JobFactory
from .test_snapshots import TRAIN, archive_of, put
from .test_submit import api

BUCKET = "taller-snapshots"


@pytest.fixture(scope="module")
def s3_server():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_server, settings):
    client = boto3.client(
        "s3",
        endpoint_url=s3_server,
        aws_access_key_id="taller",
        aws_secret_access_key="taller-secret",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=BUCKET)
    environ = {
        "TALLER_SNAPSHOT_S3_BUCKET": BUCKET,
        "TALLER_SNAPSHOT_S3_ENDPOINT_URL": s3_server,
        "TALLER_SNAPSHOT_S3_ACCESS_KEY_ID": "taller",
        "TALLER_SNAPSHOT_S3_SECRET_ACCESS_KEY": "taller-secret",
        "TALLER_SNAPSHOT_S3_REGION": "us-east-1",
    }
    settings.STORAGES = {**settings.STORAGES, "snapshots": snapshot_storage(environ)}
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def keys(client) -> list[str]:
    return [item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def test_the_settings_pick_the_bucket_from_the_environment():
    config = snapshot_storage(
        {"TALLER_SNAPSHOT_S3_BUCKET": "b", "TALLER_SNAPSHOT_S3_ENDPOINT_URL": "https://s3"}
    )
    assert config["BACKEND"] == "storages.backends.s3.S3Storage"
    assert config["OPTIONS"]["bucket_name"] == "b" and config["OPTIONS"]["endpoint_url"] == "https://s3"
    default = snapshot_storage({"TALLER_SNAPSHOT_LOCATION": "/srv/snaps"})
    assert default == {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": "/srv/snaps"},
    }


@pytest.mark.django_db(transaction=True)
def test_upload_once_download_and_delete_in_the_bucket(personas, tmp_path, bucket):
    assert type(storage()).__name__ == "S3Storage"
    digest, data = archive_of(tmp_path, {"train.py": TRAIN})
    assert put(personas.bob, digest, data).status_code == 201
    assert keys(bucket) == [f"snapshots/genomics/{digest}.tar.gz"]
    stored = bucket.head_object(Bucket=BUCKET, Key=f"snapshots/genomics/{digest}.tar.gz")
    assert put(personas.alice, digest, data).status_code == 200  # the same digest: not sent again
    again = bucket.head_object(Bucket=BUCKET, Key=f"snapshots/genomics/{digest}.tar.gz")
    assert again["LastModified"] == stored["LastModified"] and again["ETag"] == stored["ETag"]

    job = JobFactory(project=personas.project, submitter=personas.bob, source={"snapshot": digest})
    got = api(personas.vera).get(f"/api/v1/jobs/{job.pk}/snapshot/")
    assert got.status_code == 200 and b"".join(got.streaming_content) == data

    assert api(personas.bob).delete(f"/api/v1/projects/genomics/snapshots/{digest}/").status_code == 409
    job.delete()
    assert api(personas.bob).delete(f"/api/v1/projects/genomics/snapshots/{digest}/").status_code == 204
    assert keys(bucket) == []


@pytest.mark.django_db
def test_the_local_executor_runs_a_snapshot_kept_in_the_bucket(personas, tmp_path, bucket, local, settings):
    digest, data = archive_of(tmp_path, {"train.py": TRAIN})
    assert put(personas.bob, digest, data).status_code == 201
    local.submit(
        make_spec(71, command=["python", "train.py"], source={"snapshot": digest}, time_limit_seconds=60)
    )
    status = local.wait(71, 60)
    lines = local.logs(71, "genomics")
    assert status.phase == "succeeded", (status.reason, lines)
    assert "taller: unpacked 1 files of the code snapshot" in lines
    assert f"trained from a snapshot in {settings.VAR_DIR / 'jobs' / '71' / 'workspace'}" in lines
