"""The whole log of a job: its pages, a search in it, the download and follow mode, under every
persona; the log read as a stream from the local backend while the job runs."""

import pytest

from clusterjobs.backends import get_backend
from clusterjobs.logs import PAGE_LINES, read_log_page, split_lines
from clusterjobs.models import JobStatus

from .factories import JobFactory

PERSONAS = ["alice", "bob", "vera", "charlie", "root"]
SEES = {"alice": 200, "bob": 200, "vera": 200, "charlie": 404, "root": 200}


def _running_local_job(personas, lines: list[str]):
    """A running job of the local backend whose output so far is ``lines``."""
    job = JobFactory(project=personas.project, status=JobStatus.RUNNING, backend="local")
    control = get_backend("local").control(job.pk)
    control.mkdir(parents=True)
    (control / "output.log").write_text("".join(f"{line}\n" for line in lines))
    return job


def test_lines_come_out_of_pieces_whole_and_bounded():
    pieces = [b"one\r\ntw", b"o\n\xc3", b"\xa9t\xc3\xa9\n", b"x" * 25, b"\nlast"]
    assert list(split_lines(pieces, max_chars=10)) == [
        "one",
        "two",
        "été",
        "xxxxxxxxxx",
        "xxxxxxxxxx",
        "xxxxx",
        "last",
    ]
    assert list(split_lines([b"a\n\nb\n"])) == ["a", "", "b"]


@pytest.mark.django_db
@pytest.mark.parametrize("who", PERSONAS)
def test_log_pages_check_membership(personas, who):
    job = JobFactory(project=personas.project, status=JobStatus.SUCCEEDED, final_log="hello\nworld")
    client = personas.client(who)
    for url in [f"/jobs/{job.pk}/log/", f"/jobs/{job.pk}/log/?q=world", f"/jobs/{job.pk}/log/download/"]:
        assert client.get(url).status_code == SEES[who], (who, url)
    page = personas.client(who).get(f"/jobs/{job.pk}/")
    if page.status_code == 200:
        assert 'id="log-download"' in page.content.decode() and 'id="log-search"' in page.content.decode()


@pytest.mark.django_db
def test_anonymous_is_sent_to_log_in(personas):
    job = JobFactory(project=personas.project, status=JobStatus.SUCCEEDED, final_log="secret line")
    for url in [f"/jobs/{job.pk}/log/", f"/jobs/{job.pk}/log/download/"]:
        response = personas.client(None).get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.django_db
def test_the_whole_final_log_pages_and_downloads(personas):
    lines = [f"epoch {n} loss {1 / n:.3f}" for n in range(1, 2 * PAGE_LINES + 11)]
    job = JobFactory(project=personas.project, status=JobStatus.SUCCEEDED, final_log="\n".join(lines))
    client = personas.client("vera")

    last = client.get(f"/jobs/{job.pk}/log/").content.decode()  # the last page first
    assert f'id="L{2 * PAGE_LINES + 10}"' in last and f'id="L{2 * PAGE_LINES}"' not in last
    assert f"{2 * PAGE_LINES + 10} lines." in last
    first = client.get(f"/jobs/{job.pk}/log/?page=1").content.decode()
    assert 'id="L1"' in first and "epoch 1 loss 1.000" in first and f'id="L{PAGE_LINES + 1}"' not in first
    assert 'aria-current="page">1<' in first

    download = client.get(f"/jobs/{job.pk}/log/download/")
    assert (
        download.streaming
        and download["Content-Disposition"] == f'attachment; filename="taller-{job.pk}.log"'
    )
    assert b"".join(download.streaming_content).decode() == "\n".join(lines) + "\n"


@pytest.mark.django_db
def test_search_shows_matching_lines_with_their_place(personas):
    lines = ["start", *[f"step {n}" for n in range(1, PAGE_LINES + 5)], "ERROR: disk full", "end"]
    job = JobFactory(project=personas.project, status=JobStatus.FAILED, final_log="\n".join(lines))
    page = personas.client("bob").get(f"/jobs/{job.pk}/log/", {"q": "error"}).content.decode()
    number = len(lines) - 1
    assert f'<tr id="L{number}" class="match"><th scope="row"><a href="?page=2#L{number}">' in page
    assert "ERROR: disk full" in page and "step 3" not in page
    assert "1 line of" in page
    none = personas.client("bob").get(f"/jobs/{job.pk}/log/", {"q": "segfault"}).content.decode()
    assert "No line matches." in none


@pytest.mark.django_db
def test_a_running_jobs_whole_log_streams_from_its_backend(personas, settings):
    settings.TALLER_EXECUTOR = "local"
    lines = [f"line {n}" for n in range(1, 3001)]
    job = _running_local_job(personas, lines)
    result = read_log_page(job, 2)
    assert result.total_lines == 3000 and result.pages == 3
    assert result.lines[0] == (PAGE_LINES + 1, f"line {PAGE_LINES + 1}") and len(result.lines) == PAGE_LINES
    download = personas.client("alice").get(f"/jobs/{job.pk}/log/download/")
    assert b"".join(download.streaming_content).decode().splitlines() == lines
    assert read_log_page(job, None, "line 2999").lines == [(2999, "line 2999")]


@pytest.mark.django_db
def test_follow_mode_polls_while_the_job_runs_and_can_be_turned_off(personas, settings):
    settings.TALLER_EXECUTOR = "local"
    job = _running_local_job(personas, ["first", "second"])
    client = personas.client("vera")
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert f'hx-get="/jobs/{job.pk}/?fragment=log&amp;follow=1" hx-trigger="every 2s"' in page
    assert 'id="log-follow"' in page and "second" in page

    # Unticked, the checkbox sends no follow=1: the fragment comes back without polling.
    off = client.get(f"/jobs/{job.pk}/?fragment=log", HTTP_HX_REQUEST="true").content.decode()
    assert off.lstrip().startswith('<div id="log"') and "hx-trigger" not in off and "second" in off
    on = client.get(f"/jobs/{job.pk}/?fragment=log&follow=1", HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 2s"' in on and "<html" not in on

    # Once the job ended, the fragment stops polling whatever it is asked.
    job.status, job.final_log = JobStatus.SUCCEEDED, "first\nsecond\ndone"
    job.save()
    ended = client.get(f"/jobs/{job.pk}/?fragment=log&follow=1", HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in ended and "done" in ended and 'id="log-follow"' not in ended


@pytest.mark.django_db
def test_the_log_pages_run_a_fixed_number_of_queries(personas, django_assert_max_num_queries):
    job = JobFactory(project=personas.project, status=JobStatus.SUCCEEDED, final_log="\n".join(["x"] * 5000))
    client = personas.client("bob")
    client.get(f"/jobs/{job.pk}/log/")  # the session, warmed
    for url in [f"/jobs/{job.pk}/log/", f"/jobs/{job.pk}/log/?q=x&page=3", f"/jobs/{job.pk}/log/download/"]:
        with django_assert_max_num_queries(6):
            response = client.get(url)
        assert response.status_code == 200
