"""Each pytest-xdist worker gets Redis databases of its own.

`make test` runs the suite in two worker processes (``-n 2``). PostgreSQL is kept apart by
pytest-django (a test database per worker), but the Celery broker and the cache are named by URL:
two workers sharing a broker would take each other's tasks (a worker of one test dispatching a job
that exists only in the other's database). Loaded with ``-p tests.xdist_services``, before Django's
settings are read: worker ``gwN`` moves both URLs' database numbers up by ``2 * N``, so gw0 keeps
the URLs as given and gw1 uses the next two databases.
"""

import os
import re

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


def _moved(url: str, by: int) -> str:
    match = re.fullmatch(r"(redis://[^/]+)/(\d+)", url)
    if not match:
        raise SystemExit(f"tests.xdist_services: expected redis://host:port/N, not {url!r}")
    return f"{match[1]}/{int(match[2]) + by}"


if WORKER.startswith("gw"):
    offset = 2 * int(WORKER[2:])
    for name in ("CELERY_BROKER_URL", "CACHE_URL"):
        if os.environ.get(name, "").startswith("redis://"):
            os.environ[name] = _moved(os.environ[name], offset)
