"""Every operation of /api/schema/, fuzzed by schemathesis over real HTTP against a live server.

The operations are read from the schema itself, so endpoints that other apps add under /api/v1/
are covered without touching this file. Add the objects they need to ``api_world`` and the values
of their path parameters to its ``known`` mapping (``known_under`` for a name that means
something else under a path, like a quota request's ``id``), so that generated requests reach
existing objects too, not only 404s.

(schemathesis's own pytest plugin does not run on pytest 9, so each operation runs its
Hypothesis test through schemathesis's Python API: ``operation.as_strategy()`` and
``case.call_and_validate()``, which applies every built-in check.)
"""

import pytest
import schemathesis
from django.core.cache import cache
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from clusterjobs.models import JobStatus
from portal.accounts.actions import create_token
from portal.projects.models import Project
from portal.quotas.actions import request_quota, update_quota
from tests.clusterjobs.factories import JobFactory
from tests.experiments.conftest import log_example
from tests.factories import MembershipFactory, ProjectFactory
from tests.sweeps.factories import SweepFactory

MAX_EXAMPLES = 30
METHODS = {"get", "post", "put", "patch", "delete"}


def api_operations() -> list[tuple[str, str]]:
    """(method, path) of every operation, from the same generator that serves /api/schema/."""
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    return [(method.upper(), path) for path, item in paths.items() for method in item if method in METHODS]


_logged: dict = {}


def logged_run(mlflow_uri: str):
    """A run with params, metric history, a model version and artifacts, logged once per MLflow server."""
    if mlflow_uri not in _logged:
        _logged[mlflow_uri] = log_example("genomics", params={"lr": "0.1"}, metrics={"acc": 0.9})
    return _logged[mlflow_uri]


@pytest.fixture
def api_world(personas, mlflow_uri) -> dict:
    """Data in place, a token of a site admin, and path parameter values that name real objects."""
    cache.clear()  # MLflow's ids restart with each server: no project lookups from an earlier one
    Project.objects.filter(pk=personas.project.pk).update(status=Project.Status.PENDING)
    extra = [ProjectFactory(slug=f"extra-{i}") for i in range(3)]
    for project in extra:
        MembershipFactory(project=project, user=personas.root)
    run = logged_run(mlflow_uri)
    JobFactory(
        project=personas.project,
        submitter=personas.bob,
        mlflow_experiment_id=run.experiment_id,
        mlflow_run_id=run.run_id,
    )
    # In an active project, so that cancel and re-run get past their rules too.
    job = JobFactory(project=extra[0], submitter=personas.root, status=JobStatus.RUNNING)
    JobFactory(project=extra[0], status=JobStatus.FAILED, exit_code=1, final_log="one\ntwo\n")
    # A pending quota request (approve or decline it once), and a change in the quota's history.
    update_quota(personas.root, personas.project, "more for the schema run", max_gpus=2)
    quota_request = request_quota(personas.alice, personas.project, "a paper deadline", max_gpus=4)
    sweep = SweepFactory(project=extra[0], created_by=personas.root)
    _token, key = create_token(personas.root, "schemathesis")
    return {
        "headers": {"Authorization": f"Token {key}"},
        "known": {
            "slug": "genomics",
            "project_slug": "genomics",
            "username": "bob",
            "run_id": run.run_id,
            "id": job.pk,
        },
        "known_under": {
            "/api/v1/projects/{slug}/quota/requests/": {"id": quota_request.pk},
            "/api/v1/sweeps/": {"id": sweep.pk},
        },
        # Query values that name real objects, so that searches reach past their 404s too.
        "query": {"project": "genomics", "experiment": run.experiment_id},
        # Body values that name real objects: a job submitted to an active project.
        "body": {"project": extra[0].slug},
    }


@pytest.fixture
def api_schema(live_server, api_world):
    config = schemathesis.Config.from_dict(
        {
            # A well-formed request can still break a rule the schema cannot express (a slug
            # already taken, the last owner, a project already decided): a 400 with its message.
            "checks": {
                "positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "403", "404"]}
            },
        }
    )
    # The schema is built on request (drf-spectacular walks every view): on a busy machine that
    # took longer than schemathesis's default 10 s to load, and the test failed before it began.
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/", config=config, timeout=120)
    known = api_world["known"]
    known_under = api_world["known_under"]
    real_query = api_world["query"]
    real_body = api_world["body"]

    @schema.hook
    def flatmap_path_parameters(context, path_parameters):
        """Half the cases address real objects, so operations are exercised past their 404."""
        if not path_parameters:
            return st.just(path_parameters)
        values = dict(known)
        for prefix, overrides in known_under.items():
            if context.operation.path.startswith(prefix):
                values.update(overrides)
        real = {name: values.get(name, value) for name, value in path_parameters.items()}
        return st.sampled_from([path_parameters, real])

    @schema.hook
    def filter_query(context, query):
        """An empty query value means the parameter is absent, as HTML forms send it (DRF reads
        `?page=` as the first page, django-filter `?status=` as no filter): not a case to test."""
        return not any(value == "" for value in (query or {}).values())

    @schema.hook
    def flatmap_query(context, query):
        """Likewise for query parameters that name objects (a search's project, its experiment).

        Only string values are replaced, and every such parameter takes any string: a case made
        to break the schema still breaks it.
        """
        names = [
            name for name, value in (query or {}).items() if name in real_query and isinstance(value, str)
        ]
        if not names:
            return st.just(query)
        return st.sampled_from([query, {**query, **{name: real_query[name] for name in names}}])

    @schema.hook
    def flatmap_body(context, body):
        """Likewise for body fields that name objects, under the same rule."""
        if not isinstance(body, dict):
            return st.just(body)
        names = [name for name, value in body.items() if name in real_body and isinstance(value, str)]
        if not names:
            return st.just(body)
        return st.sampled_from([body, {**body, **{name: real_body[name] for name in names}}])

    return schema


@pytest.mark.parametrize(("method", "path"), api_operations(), ids=lambda value: value)
def test_operation_conforms_to_the_schema(api_schema, api_world, method, path):
    operation = api_schema[path][method]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @given(cases)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case):
        case.call_and_validate(headers=api_world["headers"])

    check()
