"""The pipeline builder for each persona: steps added from the project's templates and earlier
jobs (searched and paged), renamed, wired, removed; the YAML shown; the definition checked as the
API checks it, each refusal beside its step's field; saved or run; bounded queries."""

from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clusterjobs.models import Job, JobTemplate
from pipelines.models import Pipeline, PipelineRun

pytestmark = pytest.mark.django_db
URL = "/projects/genomics/pipelines/build/"


class _Fields(HTMLParser):
    """The values the builder's form would post (its buttons aside)."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in ("submit", "button"):
            if attrs.get("type") in ("checkbox", "radio") and "checked" not in attrs:
                return
            self.data.setdefault(name, []).append(attrs.get("value") or "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = [""]

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea][0] += data

    def handle_endtag(self, tag):
        if tag == "textarea" and self._textarea:
            self.data[self._textarea][0] = self.data[self._textarea][0].removeprefix("\n")
            self._textarea = None


def fields(response) -> dict:
    parser = _Fields()
    parser.feed(response.content.decode())
    return parser.data


def post(client, response, **changes):
    data = fields(response)
    data.pop("csrfmiddlewaretoken", None)
    for name, value in changes.items():
        data[name.replace("__", "-")] = value
    return client.post(URL, data)


@pytest.fixture
def sources(personas):
    template = JobTemplate.objects.create(
        project=personas.project, title="Prepare data", command=["python", "-c", "print('prep')"],
        env={"SEED": "1"}, cpu=Decimal("0.5"), memory_mib=1024,
    )  # fmt: skip
    earlier = Job.objects.create(
        project=personas.project, submitter=personas.bob, name="train-big", image="python:3.11-slim",
        command=["python", "-m", "examples.train", "--epochs", "3"], env={"LR": "0.1", "KEY": "x"},
        secret_env_names=["KEY"], cpu=Decimal("1"), memory_mib=2048, status="succeeded",
    )  # fmt: skip
    return template, earlier


@pytest.mark.parametrize(("who", "status"), [("alice", 200), ("bob", 200), ("root", 200), ("vera", 403), ("charlie", 404)])  # fmt: skip
def test_the_builder_by_persona(personas, sources, who, status):
    client = personas.client(who)
    assert client.get(URL).status_code == status
    assert client.post(URL, {"steps": "0", "add_template": sources[0].pk}).status_code == status
    response = client.post(URL, {"steps": "0", "name": "p", "experiment": "default", "save": "1"})
    assert response.status_code == status
    assert not Pipeline.objects.exists()


def test_anonymous_is_sent_to_log_in(personas):
    response = personas.client(None).get(URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_assemble_a_chain_check_save_and_run(personas, sources, mlflow_uri):
    template, earlier = sources
    client = personas.client("bob")
    page = client.get(URL)
    assert 'id="no-steps"' in page.content.decode()
    page = post(client, page, name="nightly", add_template=str(template.pk))
    page = post(client, page, add_job=str(earlier.pk))
    html = page.content.decode()
    assert "The secret variables of job" in html and "KEY" in html
    page = post(client, page, add_job=str(earlier.pk))
    data = fields(page)
    assert data["steps"] == ["3"]
    assert [data[f"step-{i}-name"][0] for i in range(3)] == ["prepare-data", "train-big", "train-big-2"]
    # Each new step waits for the one before: a chain.
    keys = [data[f"step-{i}-key"][0] for i in range(3)]
    assert data["step-1-depends_on"] == [keys[0]] and data["step-2-depends_on"] == [keys[1]]
    html = page.content.decode()
    assert (
        "depends_on:\n  - train-big\n" in html
        and "LR: &#x27;0.1&#x27;" in html
        and "KEY" not in html.split('id="pipeline-yaml"')[1]
    )

    page = post(
        client,
        page,
        step__2__name="evaluate",
        step__2__command="python -c 'print(3)'",
        step__2__retries="2",
        check="1",
    )
    assert "Valid: 3 step(s)" in page.content.decode(), page.content.decode()
    assert "retries: 2" in page.content.decode() and "- name: evaluate" in page.content.decode()
    saved = post(client, page, save="1")
    assert saved.status_code == 302 and saved["Location"] == "/projects/genomics/schedules/"
    pipeline = Pipeline.objects.get(name="nightly")
    assert [s["name"] for s in pipeline.definition["steps"]] == ["prepare-data", "train-big", "evaluate"]
    assert pipeline.definition["steps"][1]["env"] == {"LR": "0.1"}
    ran = post(client, page, run="1")
    run = PipelineRun.objects.get()
    assert ran.status_code == 302 and ran["Location"] == f"/pipelines/runs/{run.pk}/"
    assert run.steps.count() == 3


def test_the_htmx_answers_are_the_builder_or_a_redirect(personas, sources, mlflow_uri):
    client = personas.client("bob")
    htmx = {"headers": {"HX-Request": "true"}}
    fragment = client.post(URL, {"steps": "0", "name": "x", "add_template": sources[0].pk}, **htmx)
    html = fragment.content.decode()
    assert html.lstrip().startswith('<div id="builder">') and "<html" not in html
    data = {k: v for k, v in fields(fragment).items() if k != "csrfmiddlewaretoken"}
    ran = client.post(URL, {**data, "run": "1"}, **htmx)
    assert ran.status_code == 200
    assert ran["HX-Redirect"] == PipelineRun.objects.get().get_absolute_url()


def test_refusals_go_beside_their_step_and_field(personas, sources):
    template, earlier = sources
    client = personas.client("bob")
    page = post(client, client.get(URL), name="nightly", add_template=str(template.pk))
    page = post(client, page, add_job=str(earlier.pk))
    personas.project.quota.max_cpu = Decimal("0.5")
    personas.project.quota.save()
    page = post(client, page, step__0__name="Bad Name", step__1__env="LR=1\nnot a line", check="1")
    html = page.content.decode()
    assert 'id="id_step-1-env_error"' in html and "Line 2: write NAME=value." in html
    page = post(client, page, step__0__name="Bad Name", step__1__env="LR=1", check="1")
    html = page.content.decode()
    name_error = html[html.index('id="id_step-0-name_error"') :]
    assert "a step&#x27;s name has 1 to 63 lowercase letters" in name_error[:400]
    page = post(client, page, step__0__name="prep", check="1")
    html = page.content.decode()
    cpu_error = html[html.index('id="id_step-1-cpu_error"') :]
    assert "At most 0.5 CPU cores" in cpu_error[:200]
    assert 'id="id_step-0-cpu_error"' not in html
    post(client, page, save="1")
    post(client, page, run="1")
    assert not Pipeline.objects.exists() and not PipelineRun.objects.exists()


def test_removing_a_step_unwires_it(personas, sources):
    client = personas.client("bob")
    page = client.get(URL)
    for _ in range(3):
        page = post(client, page, add_template=str(sources[0].pk))
    data = fields(page)
    keys = [data[f"step-{i}-key"][0] for i in range(3)]
    page = post(client, page, step__2__depends_on=[keys[0], keys[1]], remove=keys[1])
    data = fields(page)
    assert data["steps"] == ["2"] and data["step-1-depends_on"] == [keys[0]]
    assert [data[f"step-{i}-key"][0] for i in range(2)] == [keys[0], keys[2]]


def test_the_pickers_search_and_page(personas, sources):
    Job.objects.bulk_create(
        Job(project=personas.project, submitter=personas.bob, name=f"sweep-{i}", command=["true"])
        for i in range(20)
    )
    Job.objects.create(project=personas.project, submitter=personas.bob, name="needle", command=["true"])
    client = personas.client("bob")
    page = client.get(URL).content.decode()
    assert page.count('name="add_job"') == 8 and "page 1 of 3" in page
    second = client.post(URL, {"steps": "0", "job_page": "2"}).content.decode()
    assert second.count('name="add_job"') == 8 and "page 2 of 3" in second
    found = client.post(URL, {"steps": "0", "job_q": "needle", "find": "jobs"}).content.decode()
    assert found.count('name="add_job"') == 1 and "needle" in found
    other = JobTemplate.objects.create(project=None, title="Site-wide GPU", command=["nvidia-smi"])
    found = client.post(URL, {"steps": "0", "template_q": "gpu", "find": "templates"}).content.decode()
    assert f'id="add-template-{other.pk}"' in found and f'id="add-template-{sources[0].pk}"' not in found
    # A job of another project cannot be copied in.
    foreign = Job.objects.create(
        project=_other_project(personas), submitter=personas.charlie, name="x", command=["true"]
    )
    refused = client.post(URL, {"steps": "0", "add_job": foreign.pk}).content.decode()
    assert "No such job to copy in this project." in refused and 'name="step-0-key"' not in refused


def _other_project(personas):
    from tests.factories import ProjectFactory

    return ProjectFactory(slug="other", name="Other", requested_by=personas.charlie)


def _page_queries(personas, client, jobs: int) -> int:
    Job.objects.bulk_create(
        Job(project=personas.project, submitter=personas.bob, name=f"j{i}", command=["true"])
        for i in range(jobs)
    )
    JobTemplate.objects.bulk_create(
        JobTemplate(project=personas.project, title=f"t{jobs}-{i}", command=["true"]) for i in range(jobs)
    )
    with CaptureQueriesContext(connection) as queries:
        assert client.get(URL).status_code == 200
    return len(queries)


def test_the_page_runs_a_bounded_number_of_queries(personas):
    client = personas.client("bob")
    client.get(URL)  # the session and the user, once
    assert _page_queries(personas, client, 5) == _page_queries(personas, client, 200)
