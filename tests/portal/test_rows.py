"""portal.rows.update_each, on PostgreSQL (the test database) and on the embedded default's
SQLite: each row its own values, all of them the shared ones, only rows that still match the
condition, and the keys of those it changed."""

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from .test_sqlite import ROOT, embedded_env


def exercise() -> str:
    """Update three tokens, one of which no longer matches; check what each row holds."""
    from portal.accounts.models import ApiToken, User
    from portal.rows import update_each

    user = User.objects.create_user(username="rows", email="rows@example.edu")
    other = User.objects.create_user(username="rows-other", email="rows-other@example.edu")
    tokens = [
        ApiToken.objects.create(user=user, name=f"t{i}", prefix=f"p{i}", key_hash=f"h{i}", workload=i == 2)
        for i in range(3)
    ]
    at = datetime(2026, 11, 30, 12, 30, 15, 123456, tzinfo=UTC)
    changed = update_each(
        ApiToken,
        {
            token.pk: {"name": f"renamed {i}", "user": other.pk, "expires_at": at}
            for i, token in enumerate(tokens)
        },
        same={"last_used_at": at},
        where={"workload": False},
    )
    assert sorted(changed) == [tokens[0].pk, tokens[1].pk], changed
    for i, token in enumerate(tokens):
        token.refresh_from_db()
        if i == 2:  # did not match: untouched
            assert (token.name, token.user_id, token.expires_at, token.last_used_at) == (
                "t2",
                user.pk,
                None,
                None,
            )
        else:
            assert (token.name, token.user_id, token.expires_at, token.last_used_at) == (
                f"renamed {i}",
                other.pk,
                at,
                at,
            )
    # A column given as NULL in every row (typed by nothing but the field it goes to).
    assert sorted(update_each(ApiToken, {t.pk: {"expires_at": None} for t in tokens})) == sorted(
        t.pk for t in tokens
    )
    assert not ApiToken.objects.filter(expires_at__isnull=False).exists()
    assert update_each(ApiToken, {}) == []
    with pytest.raises(ValueError):
        update_each(ApiToken, {tokens[0].pk: {"name": "a"}, tokens[1].pk: {"prefix": "b"}})
    return "checked"


@pytest.mark.django_db
def test_update_each_on_postgresql():
    assert exercise() == "checked"


@pytest.mark.slow
def test_update_each_on_the_embedded_sqlite(tmp_path):
    script = (
        "import django; django.setup()\n"
        "from django.core.management import call_command\n"
        "call_command('migrate', 'accounts', verbosity=0)\n"
        "from tests.portal.test_rows import exercise\n"
        "print(exercise())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**embedded_env(tmp_path), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "checked"
