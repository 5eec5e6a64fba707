"""The tracking proxy's permission matrix over raw HTTP: every route of its table, every persona.

Its route list is the proxy's own table (`experiments.proxy_policy.ROUTES`): a route added there without
a case in `proxy_cases.CASES` fails `test_every_route_has_a_case`, and removing the check of any
one route lets an outsider, a viewer or another project's token through here.
"""

import pytest

from experiments import gateway, proxy_policy

from .proxy_cases import CASES, World

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_every_route_has_a_case():
    assert set(CASES) == set(proxy_policy.ROUTES)
    # ...and each is a route MLflow's server has, read from its own descriptors.
    assert set(proxy_policy.ROUTES) <= set(gateway.request_messages())
    for key, case in CASES.items():
        assert case.writes == (proxy_policy.ROUTES[key].need >= proxy_policy.WRITE), key


@pytest.fixture
def worlds(personas, physics, mlflow_uri):
    return World("genomics"), World("physics")


def _projects_in(answer, narrowed: str) -> set[str]:
    """The projects of the objects a search answered (by their `<slug>/` or `<slug>.` names)."""
    names = [item["name"] for item in answer.json().get(narrowed, [])]
    return {name.replace("/", ".").split(".", 1)[0] for name in names}


def test_every_route_checks_the_tokens_project_and_role(tokens, call, worlds):
    genomics, physics = worlds
    failures = []
    for key, case in CASES.items():
        mine, theirs = case.build(genomics), case.build(physics)

        def ask(token, request):
            return call(token, request.method, request.route, **request.kwargs())

        # (who, answer, expected status); the allowed write comes last, after every refusal.
        answers = [("nobody", ask(None, mine), 401), ("expired", ask(tokens.expired, mine), 401)]
        outsiders = [("charlie on genomics", ask(tokens.charlie, mine))] + [
            (f"{who} on physics", ask(getattr(tokens, who), theirs))
            for who in ("alice", "bob", "vera", "job", "scoped")
        ]
        if mine.narrowed:
            for who, answer in outsiders:
                other = "genomics" if who.startswith("charlie") else "physics"
                answers.append((who, answer, 200))
                if answer.status_code == 200 and other in _projects_in(answer, mine.narrowed):
                    failures.append((key, who, "sees the other project's objects"))
        else:
            answers += [(who, answer, 404) for who, answer in outsiders]
        if case.writes:
            answers.append(("vera writes", ask(tokens.vera, mine), 403))
            answers.append(("bob writes", ask(tokens.bob, mine), 200))
            answers.append(("alice writes", ask(tokens.alice, case.build(genomics)), 200))
            answers.append(("charlie writes physics", ask(tokens.charlie, theirs), 200))
        else:
            for who in ("vera", "job", "root", "scoped"):
                answer = ask(getattr(tokens, who), mine)
                answers.append((f"{who} reads", answer, 200))
                if mine.narrowed and answer.status_code == 200:
                    if "genomics" not in _projects_in(answer, mine.narrowed):
                        failures.append((key, who, "does not see its own project's objects"))
        for who, answer, expected in answers:
            if answer.status_code != expected:
                failures.append((key, who, answer.status_code, answer.text[:200]))
            elif expected == 404 and answer.json()["message"] != "Not found, or not yours to see.":
                failures.append((key, who, "a 404, but MLflow's, not the proxy's refusal"))
    assert failures == []


def test_a_job_token_writes_only_its_project(tokens, call, worlds):
    genomics, physics = worlds
    for key, case in CASES.items():
        if not case.writes:
            continue
        mine, theirs = case.build(genomics), case.build(physics)
        assert call(tokens.job, theirs.method, theirs.route, **theirs.kwargs()).status_code == 404, key
        answer = call(tokens.job, mine.method, mine.route, **mine.kwargs())
        assert answer.status_code == 200, (key, answer.text)


ARTIFACTS = "api/2.0/mlflow-artifacts/artifacts"


def _artifact_requests(world: World) -> list[tuple[str, str, dict, bool]]:
    """The artifact service (not in the tracking table): (method, route, kwargs, writes)."""
    root = f"{world.experiment_id}/{world.run_id}/artifacts"
    return [
        ("GET", ARTIFACTS, {"params": {"path": f"{root}/notes"}}, False),
        ("GET", f"{ARTIFACTS}/{root}/notes/readme.txt", {}, False),
        ("PUT", f"{ARTIFACTS}/{root}/up.txt", {"data": b"x"}, True),
        ("DELETE", f"{ARTIFACTS}/{root}/up.txt", {}, True),
    ]


def test_the_artifact_service_checks_the_tokens_project_and_role(tokens, call, worlds):
    genomics, physics = worlds
    for (method, route, kwargs, writes), theirs in zip(
        _artifact_requests(genomics), _artifact_requests(physics), strict=True
    ):
        assert call(None, method, route, **kwargs).status_code == 401
        assert call(tokens.charlie, method, route, **kwargs).status_code == 404, route
        for who in ("alice", "bob", "vera", "job"):
            assert call(getattr(tokens, who), theirs[0], theirs[1], **theirs[2]).status_code == 404, (
                who,
                route,
            )
        assert call(tokens.vera, method, route, **kwargs).status_code == (403 if writes else 200), route
        answer = call(tokens.bob, method, route, **kwargs)
        assert answer.status_code == 200, (route, answer.text)
