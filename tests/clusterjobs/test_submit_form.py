"""The submission form: one limit behind its help and its errors, memory in GiB, the cluster's GPU
types, a preview that is green only for a valid form, templates up front, where code comes from."""

import pytest
from rest_framework.test import APIClient

from clusterjobs.models import Job, JobTemplate
from tests.factories import ProjectFactory

from .test_pages import form_data

NEW = "/projects/genomics/jobs/new/"
PREVIEW = "/projects/genomics/quota/preview/"


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "too_much"),
    [("cpu", "9"), ("memory_gib", "100000"), ("gpus", "2"), ("time_limit_minutes", "100000")],
)
def test_help_and_error_cite_the_same_limit(personas, field, too_much):
    client = personas.client("bob")
    help_text = str(client.get(NEW).context["form"].fields[field].help_text)
    assert help_text.startswith("At most ") and help_text.endswith(" for one job here.")
    errors = client.post(NEW, form_data(**{field: too_much})).context["form"].errors
    assert errors[field] == [help_text]
    assert Job.objects.count() == 0


@pytest.mark.django_db
def test_the_lower_of_site_and_quota_is_the_limit(personas, settings):
    client = personas.client("bob")
    assert client.get(NEW).context["form"].fields["cpu"].help_text == "At most 8 CPU cores for one job here."
    settings.TALLER_MAX_JOB_CPU = 2  # now the site's limit is the lower one
    form = client.get(NEW).context["form"]
    assert form.fields["cpu"].help_text == "At most 2 CPU cores for one job here."
    assert form.fields["cpu"].widget.attrs["max"] == 2
    assert client.post(NEW, form_data(cpu="3")).context["form"].errors["cpu"] == [
        "At most 2 CPU cores for one job here."
    ]


@pytest.mark.django_db
def test_memory_is_asked_in_gib(personas, settings):
    settings.TALLER_MAX_JOB_MEMORY_MIB = 3072
    client = personas.client("bob")
    page = client.get(NEW).content.decode()
    assert 'name="memory_gib" value="2"' in page and "memory_mib" not in page
    errors = client.post(NEW, form_data(memory_gib="3.5")).context["form"].errors
    assert errors["memory_gib"] == ["At most 3 GiB (3072 MiB) for one job here."]
    assert "memory_gib" not in client.post(NEW, form_data(memory_gib="2.5")).context["form"].errors


@pytest.mark.django_db
def test_gpu_types_are_the_clusters(personas, settings, body):
    client = personas.client("bob")
    page = client.get(NEW).content.decode()
    assert '<input type="hidden" name="gpu_type"' in page  # the site names no types: nothing to choose
    settings.TALLER_GPU_TYPES = ["nvidia-a100", "nvidia-t4"]
    page = client.get(NEW).content.decode()
    assert '<select name="gpu_type"' in page
    assert '<option value="nvidia-a100">nvidia-a100</option>' in page and "nvidia-t4" in page
    errors = client.post(NEW, form_data(gpus="1", gpu_type="nvidia-v100")).context["form"].errors
    assert "nvidia-v100" in " ".join(errors["gpu_type"])  # not a choice
    body["resources"] = {"gpus": 1, "gpu_type": "nvidia-v100"}
    response = api(personas.bob).post("/api/v1/jobs/", body, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "resources": {"gpu_type": ["This cluster has these GPU types: nvidia-a100, nvidia-t4."]}
    }
    body["resources"] = {"gpus": 0, "gpu_type": "nvidia-t4"}
    response = api(personas.bob).post("/api/v1/jobs/", body, format="json")
    assert response.json()["resources"]["gpu_type"] == ["A GPU type needs at least one GPU."]
    assert Job.objects.count() == 0


@pytest.mark.django_db
def test_preview_is_green_only_for_a_valid_form(personas):
    client = personas.client("bob")
    good = client.get(PREVIEW, form_data(), HTTP_HX_REQUEST="true").content.decode()
    assert 'data-outcome="starts"' in good
    bad = client.get(PREVIEW, form_data(command=""), HTTP_HX_REQUEST="true").content.decode()
    assert 'data-outcome="invalid"' in bad and 'data-outcome="starts"' not in bad
    assert "Command: This field is required." in bad
    bad = client.get(PREVIEW, form_data(cpu="9"), HTTP_HX_REQUEST="true").content.decode()
    assert 'data-outcome="invalid"' in bad and "CPU cores: At most 8 CPU cores for one job here." in bad
    # The quota page's own preview (resources only) still answers as before.
    plain = client.get(PREVIEW, {"cpu": "1", "memory_mib": "512", "gpus": "0", "time_limit_minutes": "5"})
    assert 'data-outcome="starts"' in plain.content.decode()
    assert personas.client("vera").get(PREVIEW, form_data()).status_code == 403


@pytest.mark.django_db
def test_templates_up_front(personas):
    """The example job's template (a data migration) greets every project; a project's own
    templates show on its form only."""
    example = JobTemplate.objects.get(project=None, title="Example: train a small model")
    own = JobTemplate.objects.create(project=personas.project, title="Ours", image="x:1", command=["x"])
    other = JobTemplate.objects.create(
        project=ProjectFactory(slug="physics"), title="Theirs", image="x:1", command=["x"]
    )
    client = personas.client("bob")
    page = client.get(NEW).content.decode()
    assert page.index('id="job-templates"') < page.index('id="job-form"')
    assert example.title in page and "Ours" in page and "Theirs" not in page
    page = client.get(f"{NEW}?template={example.pk}").content.decode()
    assert 'value="python -m examples.train --epochs 10"' in page
    assert 'name="image" value="python:3.11-slim"' in page  # the site's default image
    assert "Ours" in client.get(f"{NEW}?template={own.pk}").context["note"]
    assert client.get(f"{NEW}?template={other.pk}").context["note"] == "No such template."


@pytest.mark.django_db
def test_where_code_comes_from(personas, settings):
    client = personas.client("bob")
    assert "on the portal's own machine" in client.get(NEW).context["code_source"]
    settings.TALLER_EXECUTOR = "kubernetes"
    assert "in the container image you name" in client.get(NEW).context["code_source"]
    settings.TALLER_CODE_SOURCE_NOTE = "Clone your code from git.example.org."
    page = client.get(NEW).content.decode()
    assert '<p id="code-source"><small>Clone your code from git.example.org.</small></p>' in page
