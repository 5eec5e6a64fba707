"""Submitting a job with a git source against submitting one without: the check that every
submission runs (``check_request``, the form's and the API's) with a source asks the forge once
(`git ls-remote`, here a real git server over HTTP on 127.0.0.1) and nothing else; the ratio of the
two medians says what that one call costs. A re-run (a source that names its commit) asks nothing."""

import statistics
import tempfile
import time
from pathlib import Path

from django.test import override_settings

from clusterjobs.validation import check_request
from portal.accounts.models import User
from portal.projects.models import Membership, Project, Role
from tests.clusterjobs.gitserver import GitServer, make_repo

REPEATS = 15
TARGET_RATIO = 50.0  # a local ls-remote is a git process (~10-40 ms) beside a check of ~2-5 ms
ASKED = {
    "name": "bench",
    "image": "python:3.11-slim",
    "command": ["python", "train.py"],
    "cpu": "1",
    "memory_mib": 1024,
    "time_limit_minutes": 10,
}


def median_seconds(check) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        check()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def ls_remotes(server: GitServer) -> int:
    return sum(1 for method, path in server.requests if method == "GET" and "/info/refs" in path)


def run() -> list[dict]:
    user = User.objects.create_user(username="bench-sources", email="bench-sources@bench.example")
    project = Project.objects.create(
        slug="bench-sources",
        name="Sources",
        principal_investigator="Bench",
        requested_by=user,
        status="active",
    )
    Membership.objects.create(project=project, user=user, role=Role.MEMBER)
    with tempfile.TemporaryDirectory() as root:
        repo = make_repo(Path(root), "lab", {"train.py": "print('hi')\n"})
        server = GitServer(Path(root)).start()
        try:
            with override_settings(TALLER_GIT_TRUSTED_HOSTS=[server.host]):
                source = {"git": server.url("lab"), "ref": "main"}
                pinned = {**source, "commit": repo.commits["main"]}
                check_request(user, project, **ASKED, source=source)  # warm up both paths
                check_request(user, project, **ASKED)
                before = ls_remotes(server)
                with_source = median_seconds(lambda: check_request(user, project, **ASKED, source=source))
                per_submission = (ls_remotes(server) - before) / REPEATS
                without = median_seconds(lambda: check_request(user, project, **ASKED))
                before = ls_remotes(server)
                median_seconds(lambda: check_request(user, project, **ASKED, source=pinned))
                per_rerun = (ls_remotes(server) - before) / REPEATS
        finally:
            server.stop()
    ratio = with_source / without
    return [
        {
            "name": "submit check with a git source vs without (median ms)",
            "baseline": f"{without * 1000:.2f}",
            "ours": f"{with_source * 1000:.2f}",
            "ratio": ratio,
            "target": f"<= {TARGET_RATIO:g}",
            "pass": ratio <= TARGET_RATIO,
        },
        {
            "name": "ls-remote calls per submission with a git source (a re-run's: baseline)",
            "baseline": f"{per_rerun:g}",
            "ours": f"{per_submission:g}",
            "target": "<= 1 (re-run 0)",
            "pass": per_submission <= 1 and per_rerun == 0,
        },
    ]
