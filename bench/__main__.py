"""Run every bench module and print one table; exit 1 when a target is missed."""

import importlib
import os
import pkgutil
import sys

COLUMNS = ("name", "baseline", "ours", "ratio", "target", "ok")


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    import bench

    rows: list[dict] = []
    for module in sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_")):
        rows.extend(importlib.import_module(f"bench.{module}").run())
    cells = [
        [
            str(row["name"]),
            str(row["baseline"]),
            str(row["ours"]),
            f"{row['ratio']:.2f}",
            str(row["target"]),
            "yes" if row["ok"] else "NO",
        ]
        for row in rows
    ]
    widths = [max(len(c[i]) for c in [list(COLUMNS), *cells]) for i in range(len(COLUMNS))]
    for line in [list(COLUMNS), ["-" * w for w in widths], *cells]:
        print(" | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
    return 0 if all(row["ok"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
