"""`python -m bench`: run bench/bench_*.py against a throwaway test database, print one table.

Exits 1 when a row misses its target.
"""

import importlib
import os
import pkgutil
import sys

COLUMNS = ("name", "baseline", "ours", "ratio", "target", "ok")


def _cell(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:,.3f}"
    return str(value)


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    import bench

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)  # never the real database
    rows: list[dict] = []
    try:
        for module in sorted(
            m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_")
        ):
            rows.extend(importlib.import_module(f"bench.{module}").run())
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    cells = [[_cell(row[column]) for column in COLUMNS] for row in rows]
    widths = [max(len(c[i]) for c in [list(COLUMNS), *cells]) for i in range(len(COLUMNS))]
    for line in [list(COLUMNS), ["-" * w for w in widths], *cells]:
        print(" | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
    return 0 if rows and all(row["ok"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
