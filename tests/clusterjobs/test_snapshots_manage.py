"""A project's code snapshots listed (anyone who sees the project, paged, each with how many jobs
name it) and deleted (members and owners) once no job names it: a 409 while one does, with the
stored file kept; the file removed with the row otherwise."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clusterjobs.sources.models import CodeSnapshot
from clusterjobs.sources.snapshots import storage, store_snapshot
from tests.factories import ProjectFactory

from .factories import JobFactory
from .test_snapshots import TRAIN, archive_of
from .test_submit import api


@pytest.fixture(autouse=True)
def _snapshot_storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "snapshots": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "snaps")},
        },
    }


def stored(personas, tmp_path, name: str, project=None) -> str:
    (tmp_path / name).mkdir()
    digest, data = archive_of(tmp_path / name, {"train.py": TRAIN + f"# {name}\n"})
    store_snapshot(personas.bob, project or personas.project, digest, data)
    return digest


URL = "/api/v1/projects/genomics/snapshots/"


@pytest.mark.django_db
def test_the_list_shows_each_snapshot_with_the_jobs_that_name_it(personas, tmp_path):
    used, unused = stored(personas, tmp_path, "a"), stored(personas, tmp_path, "b")
    stored(personas, tmp_path, "c", project=ProjectFactory(slug="astro"))
    JobFactory.create_batch(2, project=personas.project, submitter=personas.bob, source={"snapshot": used})
    for who, code in [("alice", 200), ("bob", 200), ("vera", 200), ("root", 200), ("charlie", 404)]:
        assert api(getattr(personas, who)).get(URL).status_code == code, who
    assert api().get(URL).status_code == 401
    body = api(personas.vera).get(URL).json()
    assert body["count"] == 2
    assert {row["digest"]: row["jobs"] for row in body["results"]} == {used: 2, unused: 0}
    assert body["results"][0]["created_by"] == "bob" and body["results"][0]["size"] > 0

    with CaptureQueriesContext(connection) as few:
        api(personas.vera).get(URL)
    more = [f"{i:064x}" for i in range(60)]
    CodeSnapshot.objects.bulk_create(
        CodeSnapshot(project=personas.project, digest=digest, size=1, created_by=personas.bob)
        for digest in more
    )
    for digest in more:
        JobFactory(project=personas.project, submitter=personas.bob, source={"snapshot": digest})
    with CaptureQueriesContext(connection) as many:
        page = api(personas.vera).get(URL).json()
    assert page["count"] == 62 and len(page["results"]) == 50 and page["next"]
    assert all(row["jobs"] == 1 for row in page["results"] if row["digest"] in more)
    assert len(many) == len(few)  # bounded: not one query per snapshot


@pytest.mark.django_db
def test_delete_is_refused_while_a_job_names_the_snapshot(personas, tmp_path):
    used, unused = stored(personas, tmp_path, "a"), stored(personas, tmp_path, "b")
    JobFactory(project=personas.project, submitter=personas.bob, source={"snapshot": used})
    git_and_snapshot = {"git": "https://git.example.edu/lab.git", "commit": "a" * 40, "snapshot": unused}
    later = JobFactory(project=personas.project, submitter=personas.bob, source=git_and_snapshot)

    refused = api(personas.alice).delete(f"{URL}{used}/")
    assert refused.status_code == 409 and "1 of the project's jobs" in refused.json()["detail"]
    assert storage().exists(f"genomics/{used}.tar.gz") and CodeSnapshot.objects.filter(digest=used).exists()
    assert api(personas.bob).delete(f"{URL}{unused}/").status_code == 409  # named on top of a commit

    later.delete()
    for who, code in [("charlie", 404), ("vera", 403)]:
        assert api(getattr(personas, who)).delete(f"{URL}{unused}/").status_code == code, who
    assert api().delete(f"{URL}{unused}/").status_code == 401
    assert CodeSnapshot.objects.filter(digest=unused).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("who", ["bob", "alice", "root"])
def test_members_owners_and_admins_delete_an_unused_snapshot(personas, tmp_path, who):
    digest = stored(personas, tmp_path, "a")
    assert storage().exists(f"genomics/{digest}.tar.gz")
    response = api(getattr(personas, who)).delete(f"{URL}{digest}/")
    assert response.status_code == 204
    assert not CodeSnapshot.objects.filter(digest=digest).exists()
    assert not storage().exists(f"genomics/{digest}.tar.gz")
    assert api(personas.bob).delete(f"{URL}{digest}/").status_code == 404
    assert api(personas.bob).get(f"{URL}{digest}/").status_code == 404
