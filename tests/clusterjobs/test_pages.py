"""Job pages under every persona, the htmx fragments, the form's validation as you type,
templates and copies, and bounded queries on the lists."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from clusterjobs.models import Job, JobStatus, JobTemplate
from tests.factories import ProjectFactory

from .factories import JobFactory

PERSONAS = ["alice", "bob", "vera", "charlie", "root"]
SEES = {"alice": 200, "bob": 200, "vera": 200, "charlie": 404, "root": 200}
SUBMITS = {"alice": 200, "bob": 200, "vera": 403, "charlie": 404, "root": 200}


@pytest.mark.django_db
@pytest.mark.parametrize("who", PERSONAS)
def test_project_jobs_page(personas, genomics_job, who):
    response = personas.client(who).get("/projects/genomics/jobs/")
    assert response.status_code == SEES[who]
    if response.status_code == 200:
        assert f'id="job-{genomics_job.pk}"' in response.content.decode()
        assert ('id="submit-job"' in response.content.decode()) == (who != "vera")


@pytest.mark.django_db
@pytest.mark.parametrize("who", PERSONAS)
def test_job_detail_page(personas, genomics_job, who):
    response = personas.client(who).get(f"/jobs/{genomics_job.pk}/")
    assert response.status_code == SEES[who]
    if response.status_code == 200:
        page = response.content.decode()
        assert "API_KEY=••••••" in page and "hunter2" not in page
        assert "SEED=1" in page
        assert ('id="cancel-job"' in page) == (who != "vera")
        assert 'hx-trigger="every 2s"' in page  # queued: the live part polls


@pytest.mark.django_db
def test_anonymous_is_sent_to_login(personas, genomics_job):
    client = personas.client(None)
    for url in [
        "/jobs/",
        f"/jobs/{genomics_job.pk}/",
        "/projects/genomics/jobs/",
        "/projects/genomics/jobs/new/",
    ]:
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.post(f"/jobs/{genomics_job.pk}/cancel/").status_code == 302
    assert Job.objects.get(pk=genomics_job.pk).status == JobStatus.QUEUED


@pytest.mark.django_db
@pytest.mark.parametrize("who", PERSONAS)
def test_my_jobs_lists_only_my_own(personas, who):
    mine = JobFactory(project=personas.project, submitter=getattr(personas, who))
    JobFactory(project=personas.project, submitter=personas.alice if who != "alice" else personas.bob)
    page = personas.client(who).get("/jobs/").content.decode()
    if who == "charlie":  # no longer a member: the job is not visible
        assert f'id="job-{mine.pk}"' not in page
    else:
        assert f'id="job-{mine.pk}"' in page
    assert page.count('<tr id="job-') == (0 if who == "charlie" else 1)


@pytest.mark.django_db
def test_status_filter_and_live_rows_fragment(personas):
    running = JobFactory(project=personas.project, status=JobStatus.RUNNING)
    done = JobFactory(project=personas.project, status=JobStatus.SUCCEEDED)
    client = personas.client("bob")
    page = client.get("/projects/genomics/jobs/?status=succeeded").content.decode()
    assert f'id="job-{done.pk}"' in page and f'id="job-{running.pk}"' not in page
    assert "every 3s" not in page  # only ended jobs on the page: no polling
    fragment = client.get("/projects/genomics/jobs/", HTTP_HX_REQUEST="true").content.decode()
    assert fragment.startswith('\n  <tbody id="job-rows"') or fragment.lstrip().startswith(
        '<tbody id="job-rows"'
    )
    assert "every 3s" in fragment and "<html" not in fragment
    assert client.get("/projects/genomics/jobs/?status=exploded").status_code == 200


@pytest.mark.django_db
def test_live_fragment_stops_polling_when_the_job_ended(personas):
    job = JobFactory(
        project=personas.project, status=JobStatus.FAILED, final_log="boom\nTraceback", exit_code=1
    )
    fragment = personas.client("vera").get(f"/jobs/{job.pk}/?fragment=live", HTTP_HX_REQUEST="true")
    html = fragment.content.decode()
    assert html.lstrip().startswith('<section id="live"') and "hx-trigger" not in html
    assert 'id="cancel-job"' not in html
    log = personas.client("vera").get(f"/jobs/{job.pk}/?fragment=log&follow=1", HTTP_HX_REQUEST="true")
    html = log.content.decode()
    assert html.lstrip().startswith('<div id="log"') and "hx-trigger" not in html
    assert "boom\nTraceback" in html and "final log" in html


@pytest.mark.django_db
@pytest.mark.parametrize("who", PERSONAS)
def test_cancel_button(personas, genomics_job, who):
    response = personas.client(who).post(f"/jobs/{genomics_job.pk}/cancel/")
    expected = {"vera": 403, "charlie": 404}.get(who, 302)
    assert response.status_code == expected
    status = Job.objects.get(pk=genomics_job.pk).status
    assert status == (JobStatus.CANCELLED if expected == 302 else JobStatus.QUEUED)


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["vera", "charlie"])
def test_rerun_button_refused(personas, genomics_job, who):
    response = personas.client(who).post(f"/jobs/{genomics_job.pk}/rerun/")
    assert response.status_code == {"vera": 403, "charlie": 404}[who]
    assert Job.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("who", PERSONAS)
def test_submit_page(personas, who):
    response = personas.client(who).get("/projects/genomics/jobs/new/")
    assert response.status_code == SUBMITS[who]
    if response.status_code == 200:
        page = response.content.decode()
        assert 'value="python -m examples.train --epochs 10"' in page
        assert page.count("At most 1 GPU for one job here.") == 1  # the quota's 1, not the site's 8


def form_data(**changes) -> dict:
    data = {
        "name": "digits",
        "image": "python:3.11-slim",
        "command": "python -m examples.train --epochs 2",
        "env": "SEED=3",
        "secret_env": "TOKEN=abc",
        "cpu": "1",
        "memory_gib": "1.5",
        "gpus": "0",
        "gpu_type": "",
        "time_limit_minutes": "10",
        "experiment": "default",
    }
    return data | changes


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"command": ""}, "command", "This field is required."),
        ({"command": "python 'unbalanced"}, "command", "Cannot split the command"),
        ({"env": "1BAD=x"}, "env", "is not a valid variable name"),
        ({"env": "MLFLOW_RUN_ID=x"}, "env", "is reserved"),
        ({"env": "NOEQUALS"}, "env", "Line 1: write NAME=value."),
        ({"env": "FOO\n=x"}, "env", "Line 1: write NAME=value."),  # a name never ends in a newline
        ({"secret_env": "SEED=1", "env": "SEED=2"}, "secret_env", "Set in both lists: SEED."),
        ({"gpus": "9"}, "gpus", "At most 1 GPU for one job here."),
        ({"gpus": "2"}, "gpus", "At most 1 GPU for one job here."),
        ({"cpu": "33"}, "cpu", "At most 8 CPU cores for one job here."),
        ({"time_limit_minutes": "0"}, "time_limit_minutes", "Enter at least 1."),
        ({"image": "bad image"}, "image", "without spaces"),
    ],
)
def test_bad_form_input_gives_a_message_and_creates_nothing(
    personas, changes, field, message, django_capture_on_commit_callbacks
):
    client = personas.client("bob")
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post("/projects/genomics/jobs/new/", form_data(**changes))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert message in " ".join(errors[field]), errors
    assert Job.objects.count() == 0 and callbacks == []
    # The same message as you type: the validate endpoint answers with the fields only.
    fragment = client.post(
        "/projects/genomics/jobs/new/?validate=1", form_data(**changes), HTTP_HX_REQUEST="true"
    )
    html = fragment.content.decode()
    assert html.lstrip().startswith('<div id="job-fields"') and "<html" not in html
    assert f'id="id_{field}_error"' in html
    assert Job.objects.count() == 0


@pytest.mark.django_db
def test_validate_endpoint_with_good_input_shows_no_errors(personas):
    html = (
        personas.client("bob").post("/projects/genomics/jobs/new/?validate=1", form_data()).content.decode()
    )
    assert 'class="error"' not in html
    assert Job.objects.count() == 0


@pytest.mark.django_db
def test_viewer_cannot_validate_or_submit(personas):
    client = personas.client("vera")
    assert client.post("/projects/genomics/jobs/new/?validate=1", form_data()).status_code == 403
    assert client.post("/projects/genomics/jobs/new/", form_data()).status_code == 403
    assert personas.client("charlie").post("/projects/genomics/jobs/new/", form_data()).status_code == 404


@pytest.mark.django_db
def test_submit_from_the_form(personas, mlflow_uri):
    response = personas.client("bob").post("/projects/genomics/jobs/new/", form_data())
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    assert job.command == ["python", "-m", "examples.train", "--epochs", "2"]
    assert job.env == {"SEED": "3", "TOKEN": "abc"} and job.secret_env_names == ["TOKEN"]
    assert job.status == JobStatus.QUEUED and job.mlflow_experiment_id
    # Its run starts when the job does: the page says so while it waits.
    assert (
        "Created when the job goes to its backend."
        in personas.client("bob").get(f"/jobs/{job.pk}/").content.decode()
    )
    assert job.memory_mib == 1536  # the form's 1.5 GiB


@pytest.mark.django_db
def test_copy_prefills_without_secret_values(personas):
    job = JobFactory(project=personas.project, command=["python", "train.py", "--name", "two words"])
    page = personas.client("bob").get(f"/projects/genomics/jobs/new/?copy={job.pk}").content.decode()
    assert "python train.py --name &#x27;two words&#x27;" in page
    assert "SEED=1" in page and "API_KEY=" in page and "hunter2" not in page
    assert "enter secret values again" in page
    other = JobFactory(project=ProjectFactory(slug="physics"))
    page = personas.client("bob").get(f"/projects/genomics/jobs/new/?copy={other.pk}").content.decode()
    assert "No such job to copy in this project." in page and other.name not in page


@pytest.mark.django_db
def test_template_prefills_the_form(personas):
    template = JobTemplate.objects.create(
        title="Digits demo",
        description="SGD on digits",
        image="python:3.11-slim",
        command=["python", "-m", "examples.train", "--epochs", "4"],
        cpu=2,
        memory_mib=4096,
        time_limit_minutes=30,
    )
    JobTemplate.objects.create(title="Retired", image="x", command=["x"], is_active=False)
    client = personas.client("bob")
    page = client.get("/projects/genomics/jobs/new/").content.decode()
    assert "Digits demo" in page and "Retired" not in page
    page = client.get(f"/projects/genomics/jobs/new/?template={template.pk}").content.decode()
    assert 'value="python -m examples.train --epochs 4"' in page
    assert 'name="memory_gib" value="4"' in page and 'value="30"' in page


@pytest.mark.django_db
def test_admin_registers_job_templates(personas):
    client = personas.client("root")
    assert client.get("/admin/clusterjobs/jobtemplate/add/").status_code == 200
    assert client.get("/admin/clusterjobs/job/").status_code == 200


@pytest.mark.django_db
def test_nav_and_project_page_link_to_jobs(personas):
    page = personas.client("bob").get("/projects/genomics/").content.decode()
    assert 'href="/jobs/"' in page
    assert 'href="/projects/genomics/jobs/"' in page and 'href="/projects/genomics/jobs/new/"' in page


def count_queries(client, url: str, **headers) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, **headers)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.django_db
def test_list_queries_do_not_grow_with_the_number_of_jobs(personas):
    projects = [personas.project, ProjectFactory(slug="physics")]
    for project in projects[1:]:
        project.memberships.create(user=personas.bob, role="member")

    def make(n):
        for i in range(n):
            JobFactory(project=projects[i % 2], submitter=personas.bob, status=JobStatus.RUNNING)

    page_client = personas.client("bob")
    api = APIClient()
    api.force_authenticate(personas.bob)
    urls = [
        (page_client, "/jobs/", {}),
        (page_client, "/projects/genomics/jobs/", {}),
        (page_client, "/projects/genomics/jobs/", {"HTTP_HX_REQUEST": "true"}),
        (api, "/api/v1/jobs/", {}),
        (api, "/api/v1/jobs/?project=genomics&status=running", {}),
    ]
    make(10)
    small = [count_queries(client, url, **headers) for client, url, headers in urls]
    make(40)
    large = [count_queries(client, url, **headers) for client, url, headers in urls]
    assert small == large
