"""The sweep pages under every persona: the list and a sweep's page for whoever sees the
project, the form and the buttons for members and owners, 404 for outsiders."""

import pytest

from sweeps.models import SweepStatus
from tests.sweeps.factories import SweepFactory

PERSONAS = ["alice", "bob", "vera", "charlie", "root"]
READ = {"alice": 200, "bob": 200, "vera": 200, "charlie": 404, "root": 200}
WRITE = {"alice": 302, "bob": 302, "vera": 403, "charlie": 404, "root": 302}


@pytest.fixture
def sweep(personas):
    return SweepFactory(project=personas.project, created_by=personas.bob)


@pytest.mark.django_db
@pytest.mark.parametrize("who", PERSONAS)
def test_reads(personas, sweep, who):
    client = personas.client(who)
    listing = client.get("/projects/genomics/sweeps/")
    page = client.get(f"/sweeps/{sweep.pk}/")
    assert listing.status_code == READ[who] and page.status_code == READ[who]
    if READ[who] == 200:
        html = page.content.decode()
        assert "bowl" in listing.content.decode()
        assert 'id="trials-live"' in html and "hx-get" in html  # polls while it runs
        assert ('id="pause-sweep"' in html) == (who != "vera")
    new = client.get("/projects/genomics/sweeps/new/")
    assert new.status_code == {"vera": 403}.get(who, READ[who])


@pytest.mark.django_db
@pytest.mark.parametrize("who", PERSONAS)
def test_pause_from_the_page(personas, sweep, who):
    response = personas.client(who).post(f"/sweeps/{sweep.pk}/pause/")
    assert response.status_code == WRITE[who]
    sweep.refresh_from_db()
    assert sweep.status == (SweepStatus.PAUSED if WRITE[who] == 302 else SweepStatus.RUNNING)


@pytest.mark.django_db
def test_anonymous_is_sent_to_sign_in(personas, sweep):
    response = personas.client(None).get(f"/sweeps/{sweep.pk}/")
    assert response.status_code == 302 and "login" in response["Location"]


@pytest.mark.django_db
def test_the_trials_fragment_and_an_unknown_verb(personas, sweep):
    client = personas.client("bob")
    response = client.get(f"/sweeps/{sweep.pk}/?fragment=trials", HTTP_HX_REQUEST="true")
    assert response.content.decode().lstrip().startswith('<section id="trials-live"')
    assert client.post(f"/sweeps/{sweep.pk}/launch/").status_code == 404


@pytest.mark.django_db
def test_the_page_speaks_spanish_and_the_api_english(personas, sweep):
    client = personas.client("bob")
    page = client.get(f"/sweeps/{sweep.pk}/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "iniciado por bob" in page and "Pausar" in page
    assert client.get(f"/api/v1/sweeps/{sweep.pk}/", HTTP_ACCEPT_LANGUAGE="es").json()["status_reason"] == (
        "started by bob"
    )
