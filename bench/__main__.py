"""`python -m bench [NAME ...]`: prepare the bench database, run bench/bench_*.py, print one table.

Exits 1 when a row misses its target or a bench module fails.
"""

import importlib
import os
import pkgutil
import sys
import time
import traceback

from .database import bench_database_url, recreate

COLUMNS = ["name", "baseline", "ours", "ratio", "target", "pass"]


def setup_django() -> None:
    url = bench_database_url()
    os.environ["DATABASE_URL"] = url  # also for the servers the benches start
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    recreate(url)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def show(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return "-" if value is None else str(value)


def print_table(rows: list[dict]) -> None:
    cells = [[show(row.get(column)) for column in COLUMNS] for row in rows]
    for row, cell in zip(rows, cells, strict=True):
        if row.get("unit"):
            cell[1] = f"{cell[1]} {row['unit']}"
            cell[2] = f"{cell[2]} {row['unit']}"
    widths = [max(len(column), *(len(cell[i]) for cell in cells)) for i, column in enumerate(COLUMNS)]
    print("  ".join(column.ljust(width) for column, width in zip(COLUMNS, widths, strict=True)))
    for cell in cells:
        print("  ".join(value.ljust(width) for value, width in zip(cell, widths, strict=True)).rstrip())


def main(names: list[str]) -> int:
    started = time.monotonic()
    setup_django()
    import bench

    modules = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_"))
    if names:
        modules = [m for m in modules if m in names or m.removeprefix("bench_") in names]
    rows: list[dict] = []
    for name in modules:
        module = importlib.import_module(f"bench.{name}")
        if not hasattr(module, "run"):
            continue
        print(f"bench: running {name} ...", file=sys.stderr, flush=True)
        try:
            module_rows = module.run()
            for row in module_rows:
                row.setdefault("pass", row.pop("ok", None))
            rows += module_rows
        except Exception as error:  # a failing bench is a row that fails, not a crash of the table
            traceback.print_exc()
            rows.append({"name": f"{name}: {type(error).__name__}: {error}"[:100], "pass": False})
    print_table(rows)
    print(f"({time.monotonic() - started:.0f} s)", file=sys.stderr)
    return 0 if rows and all(row.get("pass") for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
