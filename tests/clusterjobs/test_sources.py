"""A job's git source at submission: which addresses are allowed, the ref resolved to a commit by
one `git ls-remote` against a real git server on 127.0.0.1 (public, and behind basic auth with the
project's credential), the API's 400s, the re-run keeping its commit, and the credential's API
(owners set it, nobody reads it back)."""

import pytest
import requests

from clusterjobs import actions
from clusterjobs.models import Job
from clusterjobs.sources import actions as source_actions
from clusterjobs.sources.models import SourceCredential
from clusterjobs.sources.remote import Credential, SourceError, resolve, url_error
from clusterjobs.validation import check_request
from tests.clusterjobs.factories import dispatched

from .gitserver import DEPLOY, git
from .test_submit import api

JOBS = "/api/v1/jobs/"
CREDENTIAL = "/api/v1/projects/genomics/git-credential/"


def ls_remotes(server) -> int:
    """How many `git ls-remote` (or fetch) conversations the server had: one ref advertisement each."""
    return sum(1 for method, path in server.requests if method == "GET" and "/info/refs" in path)


# ---- addresses ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("file:///etc/passwd.git", "Only https://"),
        ("ext::sh%20-c%20touch%20/tmp/pwned", "Only https://"),
        ("git://example.org/repo.git", "Only https://"),
        ("http://example.org/repo.git", "plain http:// is only for the site's own forges"),
        ("https://127.0.0.1/repo.git", "private address"),
        ("https://localhost/repo.git", "private address"),
        ("https://10.1.2.3/repo.git", "private address"),
        ("ssh://169.254.169.254/repo.git", "private address"),
        ("git@127.0.0.1:group/repo.git", "private address"),
        ("https://user:pw@example.org/repo.git", "Put no password in the address"),
        ("/srv/elsewhere/repo.git", "only under the site's git folders"),
        ("-uhttps://example.org/x", "Give the repository's address"),
        ("", "Give the repository's address"),
    ],
)
def test_addresses_that_are_refused(url, problem, settings):
    settings.TALLER_GIT_LOCAL_ROOTS = ["/srv/git"]
    assert problem in (url_error(url) or "")


def test_addresses_that_are_allowed(settings):
    settings.TALLER_GIT_LOCAL_ROOTS = ["/srv/git"]
    settings.TALLER_GIT_TRUSTED_HOSTS = ["forge.internal:8080"]
    assert url_error("/srv/git/lab/repo.git") is None
    assert url_error("http://forge.internal:8080/lab/repo.git") is None
    assert "only under" in url_error("/srv/git/../etc/repo.git")


# ---- resolving a ref ---------------------------------------------------------------------------


def test_refs_resolve_to_their_commits_with_one_ls_remote_each(public_git):
    server, repo = public_git
    url = server.url("lab")
    assert resolve(url, "main") == repo.commits["main"]
    assert resolve(url, "feature") == repo.commits["feature"]
    assert resolve(url, "v1") == repo.commits["v1"]  # an annotated tag: its commit, not the tag object
    assert resolve(url, "HEAD") == repo.commits["main"]
    assert ls_remotes(server) == 4


def test_a_missing_ref_or_repository_is_said_clearly(public_git):
    server, _repo = public_git
    with pytest.raises(SourceError, match="No branch or tag nope"):
        resolve(server.url("lab"), "nope")
    with pytest.raises(SourceError, match="There is no repository at"):
        resolve(server.url("missing"), "main")


def test_a_private_repository_needs_the_credential(private_git):
    server, repo = private_git
    with pytest.raises(SourceError, match="needs credentials the project does not have"):
        resolve(server.url("secret-lab"), "main")
    with pytest.raises(SourceError, match="needs credentials"):
        resolve(server.url("secret-lab"), "main", Credential(username=DEPLOY[0], token="wrong"))
    assert resolve(server.url("secret-lab"), "main", Credential(*DEPLOY)) == repo.commits["main"]


def test_a_server_that_does_not_answer_is_a_bounded_error(settings):
    import socket

    settings.TALLER_GIT_TIMEOUT_SECONDS = 1
    with socket.socket() as silent:  # accepts the connection, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        host = f"127.0.0.1:{silent.getsockname()[1]}"
        settings.TALLER_GIT_TRUSTED_HOSTS = [host]
        with pytest.raises(SourceError, match="did not answer within 1 seconds"):
            resolve(f"http://{host}/lab.git", "main")


# ---- submission --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_api_takes_a_source_and_pins_its_commit(personas, body, mlflow_uri, public_git):
    server, repo = public_git
    body["source"] = {"git": server.url("lab"), "ref": "main"}
    response = api(personas.bob).post(JOBS, body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["source"] == {
        "git": server.url("lab"),
        "ref": "main",
        "commit": repo.commits["main"],
    }
    job = Job.objects.get()
    assert job.source["commit"] == repo.commits["main"]
    assert ls_remotes(server) == 1  # the serializer's check; the action does not ask again
    # The run records the code in MLflow's own source tags, so MLflow's UI shows them too.
    job = dispatched(job.pk)  # the dispatch creates the run (clusterjobs.runs), with the source tags
    run = requests.get(f"{mlflow_uri}/api/2.0/mlflow/runs/get", params={"run_id": job.mlflow_run_id}).json()
    tags = {tag["key"]: tag["value"] for tag in run["run"]["data"]["tags"]}
    assert tags["mlflow.source.git.commit"] == repo.commits["main"]
    assert tags["mlflow.source.git.repoURL"] == tags["mlflow.source.name"] == server.url("lab")
    assert tags["mlflow.source.type"] == "JOB" and tags["taller.image"] == body["image"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"git": "LAB", "ref": "nope"}, "No branch or tag nope"),
        ({"git": "MISSING", "ref": "main"}, "There is no repository at"),
        ({"git": "file:///srv/lab.git"}, "Only https://"),
        ({"git": "LAB", "commit": "abc"}, "full 40-character commit id"),
        ({"git": "LAB", "branch": "main"}, "Unknown source fields: branch"),
        ({"ref": "main"}, "Give the repository's address"),
    ],
)
def test_a_bad_source_is_a_400_and_creates_nothing(personas, body, public_git, source, message):
    server, _repo = public_git
    urls = {"LAB": server.url("lab"), "MISSING": server.url("missing")}
    body["source"] = {key: urls.get(value, value) for key, value in source.items()}
    response = api(personas.bob).post(JOBS, body, format="json")
    assert response.status_code == 400
    assert message in response.json()["source"][0]
    assert Job.objects.count() == 0


@pytest.mark.django_db
def test_a_private_repository_with_the_projects_credential(personas, body, mlflow_uri, private_git):
    server, repo = private_git
    body["source"] = {"git": server.url("secret-lab"), "ref": "feature"}
    refused = api(personas.bob).post(JOBS, body, format="json")
    assert refused.status_code == 400 and "needs credentials" in refused.json()["source"][0]
    source_actions.set_credential(personas.alice, personas.project, username=DEPLOY[0], token=DEPLOY[1])
    response = api(personas.bob).post(JOBS, body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["source"]["commit"] == repo.commits["feature"]
    assert DEPLOY[1] not in response.content.decode()


@pytest.mark.django_db
def test_a_rerun_keeps_the_commit_even_after_the_branch_moved(personas, spec, mlflow_uri, public_git):
    server, repo = public_git
    spec["source"] = {"git": server.url("lab"), "ref": "main"}
    job = actions.submit_job(
        personas.bob, personas.project, check_request(personas.bob, personas.project, **spec)
    )
    (repo.work / "NEW").write_text("new\n")
    git("add", ".", cwd=repo.work)
    git("commit", "-q", "-m", "moved on", cwd=repo.work)
    git("push", "-q", "origin", "main", cwd=repo.work)
    asked = ls_remotes(server)

    again = actions.rerun_job(personas.alice, job)

    assert again.source == job.source and again.source["commit"] == repo.commits["main"]
    assert ls_remotes(server) == asked  # pinned: not resolved again


@pytest.mark.django_db
def test_a_viewer_cannot_submit_with_a_source(personas, body, public_git):
    server, _repo = public_git
    body["source"] = {"git": server.url("lab"), "ref": "main"}
    assert api(personas.vera).post(JOBS, body, format="json").status_code == 403
    assert Job.objects.count() == 0


# ---- the project's credential --------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "code"),
    [("alice", 200), ("root", 200), ("bob", 403), ("vera", 403), ("charlie", 404), (None, 401)],
)
def test_only_owners_set_the_credential(personas, who, code):
    user = getattr(personas, who) if who else None
    response = api(user).put(CREDENTIAL, {"username": DEPLOY[0], "token": DEPLOY[1]}, format="json")
    assert response.status_code == code
    assert DEPLOY[1] not in response.content.decode()
    assert SourceCredential.objects.exists() == (code == 200)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "code"),
    [("alice", 200), ("bob", 200), ("vera", 200), ("root", 200), ("charlie", 404), (None, 401)],
)
def test_members_see_whether_it_is_set_never_its_value(personas, who, code):
    source_actions.set_credential(personas.alice, personas.project, username=DEPLOY[0], token=DEPLOY[1])
    user = getattr(personas, who) if who else None
    response = api(user).get(CREDENTIAL)
    assert response.status_code == code
    assert DEPLOY[1] not in response.content.decode()
    if code == 200:
        assert response.json() | {"set_at": None} == {
            "set": True,
            "kind": "token",
            "username": "deploy",
            "set_by": "alice",
            "set_at": None,
        }


@pytest.mark.django_db
def test_the_credential_is_stored_encrypted_and_removed_by_owners(personas):
    source_actions.set_credential(personas.alice, personas.project, username=DEPLOY[0], token=DEPLOY[1])
    row = SourceCredential.objects.get()
    assert DEPLOY[1] not in row.token_sealed and row.credential().token == DEPLOY[1]
    assert api(personas.bob).delete(CREDENTIAL).status_code == 403
    assert api(personas.alice).delete(CREDENTIAL).status_code == 204
    assert not SourceCredential.objects.exists()
    assert api(personas.alice).get(CREDENTIAL).json()["set"] is False


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("asked", "field"),
    [
        ({"username": "deploy"}, "token"),
        ({"token": "t", "ssh_key": "-----BEGIN OPENSSH PRIVATE KEY-----"}, "token"),
        ({"ssh_key": "not a key"}, "ssh_key"),
        ({"token": "t", "username": "two words"}, "username"),
        ({"token": "t", "password": "x"}, "password"),
    ],
)
def test_a_bad_credential_is_a_400_per_field(personas, asked, field):
    response = api(personas.alice).put(CREDENTIAL, asked, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not SourceCredential.objects.exists()


# ---- the pages ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_form_takes_a_source_and_the_job_page_shows_its_commit(personas, mlflow_uri, public_git):
    from .test_pages import form_data

    server, repo = public_git
    bad = personas.client("bob").post(
        "/projects/genomics/jobs/new/", form_data(source_git=server.url("lab"), source_ref="nope")
    )
    assert bad.status_code == 200 and "No branch or tag nope" in bad.content.decode()
    assert Job.objects.count() == 0
    response = personas.client("bob").post(
        "/projects/genomics/jobs/new/", form_data(source_git=server.url("lab"), source_ref="v1")
    )
    job = Job.objects.get()
    assert response.status_code == 302 and job.source["commit"] == repo.commits["v1"]
    page = personas.client("vera").get(f"/jobs/{job.pk}/").content.decode()
    assert server.url("lab") in page and repo.commits["v1"][:12] in page
    copied = personas.client("bob").get(f"/projects/genomics/jobs/new/?copy={job.pk}").content.decode()
    assert f'value="{server.url("lab")}"' in copied and 'value="v1"' in copied


PAGE = "/projects/genomics/git-credential/"


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
def test_the_credential_page_shows_who_set_it_and_a_form_to_owners(personas, who, code, form):
    source_actions.set_credential(personas.alice, personas.project, username=DEPLOY[0], token=DEPLOY[1])
    response = personas.client(who).get(PAGE)
    assert response.status_code == code
    page = response.content.decode()
    assert DEPLOY[1] not in page
    if code == 200:
        assert "A token is set, by alice" in page and "User name: deploy." in page
        assert ('id="credential-form"' in page) == form


@pytest.mark.django_db
def test_owners_set_and_remove_it_from_the_page(personas):
    assert personas.client(None).get(PAGE).status_code == 302  # to the sign-in page
    assert personas.client("bob").post(PAGE, {"token": "x"}).status_code == 403
    assert personas.client("vera").post(PAGE, {"remove": "1"}).status_code == 403
    assert not SourceCredential.objects.exists()
    bad = personas.client("alice").post(PAGE, {"username": "deploy"})
    assert bad.status_code == 200 and "Give either a token" in bad.content.decode()
    saved = personas.client("alice").post(PAGE, {"username": "deploy", "token": DEPLOY[1]}, follow=True)
    assert "The project&#x27;s git credential was saved." in saved.content.decode()
    assert DEPLOY[1] not in saved.content.decode()
    assert SourceCredential.objects.get().credential().token == DEPLOY[1]
    personas.client("alice").post(PAGE, {"remove": "1"})
    assert not SourceCredential.objects.exists()
    project_page = personas.client("vera").get("/projects/genomics/").content.decode()
    assert f'href="{PAGE}"' in project_page


@pytest.mark.parametrize(
    "stderr, said",
    [
        # A port holding "403" and a path holding "404": neither is git's status.
        (
            "fatal: repository 'http://127.0.0.1:34033/x404/' not found\n",
            "There is no repository at",
        ),
        (
            "fatal: unable to access 'http://127.0.0.1:40403/lab/': The requested URL returned error: 404\n",
            "There is no repository at",
        ),
        (
            "fatal: unable to access 'http://127.0.0.1:44044/lab/': The requested URL returned error: 403\n",
            "needs credentials",
        ),
        ("fatal: Authentication failed for 'http://127.0.0.1:34033/lab/'\n", "needs credentials"),
        (
            "fatal: unable to access 'http://127.0.0.1:34033/lab/': Empty reply from server\n",
            "git could not read",
        ),
    ],
)
def test_git_errors_are_read_from_its_phrases_not_from_digits_in_the_url(stderr, said):
    from clusterjobs.sources.remote import _explain

    assert said in _explain(stderr, "http://127.0.0.1:34033/lab/")


def test_a_missing_repository_on_a_port_holding_403_and_404_is_said_missing(tmp_path, settings):
    """A real git against a forge whose port holds "403" and "404" (the first of a few that is
    free): git's message names the URL, and its digits must not read as an HTTP status."""
    from .gitserver import GitServer

    tmp_path.joinpath("forge").mkdir()
    for port in (40403, 34034, 44034, 24034, 14034):
        try:
            server = GitServer(tmp_path / "forge", port=port).start()
            break
        except OSError:
            continue
    else:
        raise AssertionError("none of the ports holding 403 was free")
    settings.TALLER_GIT_TRUSTED_HOSTS = [*settings.TALLER_GIT_TRUSTED_HOSTS, server.host]
    try:
        with pytest.raises(SourceError, match="There is no repository at") as raised:
            resolve(f"http://{server.host}/x404/missing.git", "main")
        assert "403" in str(raised.value)
    finally:
        server.stop()
