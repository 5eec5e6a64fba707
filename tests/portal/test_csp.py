"""The Content-Security-Policy: every page of the portal, in a real Chromium, runs without a single
violation, and the pages that script (htmx, charts, confirmations, the language menu) still work.

The list of pages is checked against the URLconf: a new named URL must be visited here or be named
as not a page (a POST target, a fragment, a download), so no page escapes the policy's test.
"""

import re

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from playwright.sync_api import Page, expect

from clusterjobs.models import Job, JobStatus
from deployments.models import Deployment, DeploymentStatus
from experiments import gateway
from pipelines.actions import start_pipeline
from portal.quotas.actions import request_quota
from tests.clusterjobs.factories import JobFactory
from tests.experiments.conftest import log_example
from tests.factories import ProjectFactory
from tests.sweeps.factories import sweep_with_trials

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Every violation the page reports, and the console's CSP messages (Chromium logs both).
LISTEN = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber} ${e.sample}`);
});
"""

# Named URLs that are not pages to look at: POST targets, htmx fragments, JSON and file downloads.
NOT_PAGES = {
    "healthz",  # JSON
    "pipelines:cancel",
    "pipelines:rerun",
    "pipelines:schedule-pause",
    "pipelines:schedule-resume",
    "pipelines:schedule-delete",
    "pipelines:webhook-test",
    "pipelines:webhook-delete",
    "metrics",  # Prometheus' text format, for scrapers
    "javascript-catalog",  # a script, loaded by the quota pages
    "accounts:logout",
    "accounts:revoke-token",
    "accounts:time-zone",
    "projects:add-member",
    "projects:change-role",
    "projects:remove-member",
    "projects:archive",
    "quotas:project-approve",
    "quotas:project-reject",
    "quotas:export",  # CSV
    "projects:audit-csv",  # CSV
    "audit:csv",  # CSV
    "quotas:edit",
    "quotas:request",
    "quotas:approve",
    "quotas:decline",
    "quotas:cap",
    "quotas:preview",  # fragment, loaded on the quota and submit pages
    "clusterjobs:cancel",
    "clusterjobs:rerun",
    "clusterjobs:log-download",  # a text file
    "clusterjobs:reproduce",
    "sweeps:change",  # pause, resume, stop, extend
    "deployments:version",
    "deployments:rollback",
    "deployments:scale",
    "deployments:stop",
    "deployments:new-key",
    "deployments:revoke-key",
    "deployments:sampling",
    "deployments:samples-download",  # JSON lines
    "deployments:samples",  # an htmx fragment of the deployment page
    "serve-invocations",  # MLflow's scoring protocol, for clients
    "experiments:run-job",  # a redirect to the job's page
    "mlflow-link",  # a redirect to a run's page
    "experiments:run-history",  # JSON for the charts
    "experiments:artifacts",  # fragment, loaded on the run page
    "experiments:artifact-preview",  # fragment
    "experiments:artifact-download",
    "experiments:compare-history",  # JSON
    "experiments:set-alias",
    "experiments:delete-alias",
    "experiments:set-tag",
    "experiments:delete-tag",
    "set_language",
    "api-schema",  # the OpenAPI document
}
# Address prefixes with their own tests: the API answers JSON (its browsable pages are visited
# below once), the tracking proxy speaks MLflow's protocol, OIDC redirects, the admin is visited.
OTHER_PREFIXES = ("api/v1/", "mlflow/", "oidc/", "admin/", "i18n/")


def named_urls() -> set[str]:
    names: set[str] = set()

    def walk(patterns, namespace: str, route: str) -> None:
        for pattern in patterns:
            here = route + str(pattern.pattern)
            if here.startswith(OTHER_PREFIXES) or here.lstrip("^").startswith(OTHER_PREFIXES):
                continue
            if isinstance(pattern, URLResolver):
                inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                walk(pattern.url_patterns, inner, here)
            elif isinstance(pattern, URLPattern) and pattern.name:
                names.add(namespace + pattern.name)

    walk(get_resolver().url_patterns, "", "")
    return names


@pytest.fixture
def site(personas, mlflow_uri) -> dict:
    """One of everything a page shows: runs with charts and artifacts, a registered model version,
    a job still queued (its page polls), a pending project and a pending quota request; and the
    values that fill the addresses of PAGES."""
    first = log_example("genomics", metrics={"acc": 0.7})
    second = log_example("genomics", metrics={"acc": 0.8})
    job = JobFactory(project=personas.project, submitter=personas.bob, status=JobStatus.QUEUED)
    ProjectFactory(slug="waiting", name="Waiting", requested_by=personas.charlie)
    request_quota(personas.alice, personas.project, "thesis", max_gpus=2)
    steps = [{"name": "a", "command": ["true"]}, {"name": "b", "command": ["true"], "depends_on": ["a"]}]
    pipeline_run = start_pipeline(personas.bob, personas.project, {"name": "csp", "steps": steps})
    return {
        "pipeline_run": pipeline_run,
        "deployment": Deployment.objects.create(
            project=personas.project,
            name="digits",
            model_name=f"genomics.{first.model.split('.', 1)[1]}",
            version="1",
            serving_version="1",
            status=DeploymentStatus.RUNNING,
            backend="local",
            created_by=personas.bob,
        ),
        "job": job,
        "sweep": sweep_with_trials(personas),
        "run": first.run_id,
        "other_run": second.run_id,
        "experiment": first.experiment_id,
        "model": first.model.split(".", 1)[1],
        "version": gateway.list_versions("genomics", first.model)["versions"][0]["version"],
        "project_pk": personas.project.pk,
    }


# URL name -> (who looks, address whose {names} are filled from the site fixture).
PAGES = {
    "dashboard": ("bob", "/"),
    "accounts:login": (None, "/accounts/login/"),
    "accounts:profile": ("bob", "/accounts/profile/"),
    "projects:register": ("bob", "/projects/new/"),
    "quotas:project-review": ("root", "/projects/review/"),
    "projects:detail": ("alice", "/projects/genomics/"),
    "quotas:overview": ("root", "/quotas/"),
    "quotas:project": ("root", "/projects/genomics/quota/"),
    "clusterjobs:my-jobs": ("bob", "/jobs/"),
    "clusterjobs:project-jobs": ("bob", "/projects/genomics/jobs/"),
    "clusterjobs:detail": ("bob", "/jobs/{job.pk}/"),
    "clusterjobs:submit": ("bob", "/projects/genomics/jobs/new/"),
    "clusterjobs:log": ("bob", "/jobs/{job.pk}/log/?q=x"),
    "clusterjobs:resources": ("bob", "/jobs/{job.pk}/resources/"),
    "experiments:list": ("bob", "/projects/genomics/experiments/"),
    "experiments:runs": ("bob", "/projects/genomics/experiments/{experiment}/"),
    "experiments:run": ("bob", "/projects/genomics/runs/{run}/"),
    "experiments:project-runs": ("bob", "/projects/genomics/runs/"),
    "experiments:charts": ("bob", "/projects/genomics/charts/?metric=acc"),
    "experiments:register": ("bob", "/projects/genomics/runs/{run}/register/"),
    "experiments:compare": ("bob", "/projects/genomics/compare/?runs={run}&runs={other_run}"),
    "experiments:models": ("bob", "/projects/genomics/models/"),
    "experiments:model": ("bob", "/projects/genomics/models/{model}/"),
    "experiments:version": ("bob", "/projects/genomics/models/{model}/versions/{version}/"),
    "sweeps:list": ("bob", "/projects/genomics/sweeps/"),
    "sweeps:new": ("bob", "/projects/genomics/sweeps/new/"),
    "sweeps:detail": ("bob", "/sweeps/{sweep.pk}/"),
    "api-docs": ("bob", "/api/docs/"),
    "pipelines:project-runs": ("bob", "/projects/genomics/pipelines/"),
    "pipelines:start": ("bob", "/projects/genomics/pipelines/new/"),
    "pipelines:build": ("bob", "/projects/genomics/pipelines/build/"),
    "pipelines:run": ("bob", "/pipelines/runs/{pipeline_run.pk}/"),
    "pipelines:schedules": ("bob", "/projects/genomics/schedules/"),
    "pipelines:notifications": ("bob", "/projects/genomics/notifications/"),
    "deployments:list": ("bob", "/projects/genomics/deployments/"),
    "deployments:new": ("bob", "/projects/genomics/deployments/new/?model={model}&version={version}"),
    "deployments:detail": ("bob", "/projects/genomics/deployments/{deployment.name}/"),
    "clusterjobs:git-credential": ("alice", "/projects/genomics/git-credential/"),
    "projects:audit": ("alice", "/projects/genomics/audit/"),
    "audit:site": ("root", "/audit/"),
    "clusterjobs:provenance-job": ("bob", "/jobs/{job.pk}/provenance/"),
    "clusterjobs:provenance-run": ("bob", "/projects/genomics/provenance/runs/{run}/"),
    "clusterjobs:provenance-version": (
        "bob",
        "/projects/genomics/provenance/models/{model}/versions/{version}/",
    ),
    "clusterjobs:dvc-remote": ("alice", "/projects/genomics/dvc-remote/"),
    # The provenance pages' fragments, each a page of its own without JavaScript.
    "clusterjobs:provenance-versions-part": (
        "bob",
        "/projects/genomics/provenance/runs/{run}/model-versions/",
    ),
    "clusterjobs:provenance-run-part": ("bob", "/projects/genomics/provenance/runs/{run}/details/"),
}


# Pages outside the URL names above: the admin, DRF's browsable API, an error page.
EXTRA_PAGES = [
    ("root", "/admin/"),
    ("root", "/admin/projects/project/"),
    ("root", "/admin/projects/project/{project_pk}/change/"),  # inlines, autocomplete widgets
    ("root", "/admin/projects/auditevent/"),
    ("root", "/admin/clusterjobs/jobtemplate/add/"),
    ("root", "/admin/quotas/quota/"),
    ("bob", "/api/v1/projects/"),  # DRF's browsable API, as a browser asks for it
    ("bob", "/projects/no-such-project/"),  # the 404 page
    ("bob", "/mlflow/"),  # what a browser gets of the tracking proxy: the page that follows MLflow's links
]


def log_in(page: Page, live_server, user) -> None:
    page.context.clear_cookies()
    if user is None:
        return
    client = Client()
    client.force_login(user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


# What the policy would block only when it runs (an inline handler fires on its event, an inline
# script in a fragment runs when swapped in): found in the page as it stands.
DORMANT = """
() => [
  ...[...document.querySelectorAll("*")].flatMap((el) =>
    [...el.attributes].filter((a) => a.name.startsWith("on") || a.name.startsWith("hx-on"))
      .map((a) => `inline handler ${el.tagName.toLowerCase()} ${a.name}="${a.value}"`)),
  ...[...document.querySelectorAll("script:not([src])")]
    .filter((s) => !s.nonce && !["application/json", "application/ld+json"].includes(s.type))
    .map((s) => `inline script without nonce: ${s.textContent.slice(0, 80)}`),
  ...[...document.querySelectorAll("a[href^='javascript:']")].map((a) => `javascript: link ${a.href}`),
]
"""


def visit(page: Page, url: str) -> list[str]:
    """Load a page, let its scripts and htmx requests run, and return the CSP violations seen and
    the inline code that would be one when it runs."""
    page.goto(url)
    page.wait_for_load_state("networkidle")
    return page.evaluate("window.__csp") + page.evaluate(DORMANT)


def test_every_page_is_listed_or_named_as_not_a_page():
    unlisted = named_urls() - NOT_PAGES - set(PAGES)
    assert not unlisted, f"add these to the CSP browser test: {sorted(unlisted)}"


def test_every_page_runs_under_the_policy_without_a_violation(page: Page, live_server, personas, site):
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.add_init_script(LISTEN)
    problems: dict[str, list[str]] = {}
    who_now = object()
    visits = [(who, path.format(**site)) for who, path in [*PAGES.values(), *EXTRA_PAGES]]
    for who, path in visits:
        if who != who_now:
            log_in(page, live_server, getattr(personas, who) if who else None)
            who_now = who
        response = page.request.get(f"{live_server.url}{path}")
        policy = response.headers.get("content-security-policy", "")
        script_src = re.search(r"script-src ([^;]*)", policy)
        assert script_src and "'unsafe-inline'" not in script_src[1] and "'unsafe-eval'" not in policy, (
            path,
            policy,
        )
        assert "frame-ancestors 'none'" in policy
        violations = visit(page, f"{live_server.url}{path}")
        violations += [text for text in console if "Content Security Policy" in text]
        console.clear()
        if violations:
            problems[path] = violations
    assert not problems, problems


def test_scripts_still_work_under_the_policy(page: Page, live_server, personas, site):
    """htmx polls and swaps, charts draw, a confirmation asks first, the language menu switches."""
    page.add_init_script(LISTEN)
    job = site["job"]
    log_in(page, live_server, personas.bob)

    # A queued job's page polls its live section with htmx.
    with page.expect_request(re.compile(rf"/jobs/{job.pk}/\?fragment=live")):
        page.goto(f"{live_server.url}/jobs/{job.pk}/")
    # Cancelling asks first: dismissed, nothing happens; accepted, the job is cancelled.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("#cancel-job")
    page.wait_for_load_state("networkidle")
    assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#cancel-job")
    expect(page.get_by_text("Job cancelled.")).to_be_visible()
    assert Job.objects.get(pk=job.pk).status == JobStatus.CANCELLED

    # The run page's metric chart draws (Chart.js, fed by fetch).
    page.goto(f"{live_server.url}/projects/genomics/runs/{site['run']}/")
    page.wait_for_selector("canvas[data-history-url][data-state=ready]")
    # The submit form's quota preview is an htmx request made on load.
    page.goto(f"{live_server.url}/projects/genomics/jobs/new/")
    expect(page.locator("#quota-preview")).not_to_be_empty()
    # The language menu submits itself.
    page.get_by_label("Language").select_option("es")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    assert page.evaluate("window.__csp") == []
    # Swagger UI builds the API's operations from the schema (its init script carries the nonce).
    page.goto(f"{live_server.url}/api/docs/")
    expect(page.locator(".opblock").first).to_be_visible()
    assert page.evaluate("window.__csp") == []
