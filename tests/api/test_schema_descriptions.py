"""Every operation of /api/schema/ says what it does: a summary of its own and a description.

The schema is read as clients read it, over /api/schema/, so operations other apps add are
covered without touching this file.
"""

from collections import Counter

import pytest

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def operations(api):
    response = api("alice").get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    return {
        f"{method.upper()} {path}": operation
        for path, item in paths.items()
        for method, operation in item.items()
        if method in METHODS
    }


def test_every_operation_has_a_summary_and_a_description(operations):
    assert len(operations) > 30
    missing = [
        (name, part)
        for name, operation in operations.items()
        for part in ("summary", "description")
        if not (operation.get(part) or "").strip()
    ]
    assert missing == []


def test_no_two_operations_share_a_summary(operations):
    counts = Counter(operation.get("summary", "").strip().lower() for operation in operations.values())
    shared = {
        summary: sorted(
            name for name, op in operations.items() if op.get("summary", "").strip().lower() == summary
        )
        for summary, count in counts.items()
        if count > 1
    }
    assert shared == {}
