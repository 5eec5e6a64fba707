"""The shape of the code, read from the source: which package imports which, and how long modules are.

Every ``import`` counts, at the top of a module or inside a function: an import hidden in a function
is still a dependency. See docs/architecture.md for the picture these tests keep true.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# The packages whose imports must form no circle. A module belongs to the longest one that holds it.
APPS = (
    "portal.accounts",
    "portal.projects",
    "portal.quotas",
    "clusterjobs",
    "experiments",
    "monitoring",
    "deployments",
    "sweeps",
)
# The site wires everything together (with the Celery app, the health check and the dashboard, which
# draws on every app) and may import every
# app; no app imports it.
SITE = {
    "portal",
    "portal.settings",
    "portal.urls",
    "portal.celery",
    "portal.wsgi",
    "portal.asgi",
    "portal.health",
    "portal.views",
    "portal.dashboard",
}
# What every app may use: modules of ``portal`` that are neither an app nor the site.
SHARED = "portal"
LONGEST_MODULE = 400


def modules(package: str):
    base = ROOT.joinpath(*package.split("."))
    for path in sorted(base.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        relative = path.relative_to(ROOT).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts.pop()
        yield ".".join(parts), path


def imported(name: str, path: Path):
    """Every module ``name`` imports, relative imports resolved, at any depth of the code."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = name.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module
            # "from portal import retry" imports the module portal.retry, not portal itself.
            for alias in node.names:
                named = f"{base}.{alias.name}"
                yield named if is_module(named) else base


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def owner(module: str) -> str | None:
    if module in SITE:
        return "site"
    for app in sorted(APPS, key=len, reverse=True):
        if module == app or module.startswith(app + "."):
            return app
    if module == SHARED or module.startswith(SHARED + "."):
        return SHARED
    return None


def package_graph() -> dict[str, dict[str, set[str]]]:
    """For each package, the packages it imports, each with the modules that import it."""
    graph: dict[str, dict[str, set[str]]] = {}
    for package in (*APPS, SHARED):
        for name, path in modules(package):
            source = owner(name)
            if source != package:
                continue
            for target in {owner(module) for module in imported(name, path)} - {None, source}:
                graph.setdefault(source, {}).setdefault(target, set()).add(name)
    return graph


def cycles(graph: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    """Each circle of the package graph once, as the packages along it."""
    found, seen = [], set()

    def walk(path: list[str]) -> None:
        for target in sorted(graph.get(path[-1], {})):
            if target == path[0]:
                key = frozenset(path)
                if key not in seen:
                    seen.add(key)
                    found.append([*path, target])
            elif target not in path and target > path[0]:
                walk([*path, target])

    for start in sorted(graph):
        walk([start])
    return found


def test_the_graph_reads_imports_inside_functions_too(tmp_path):
    path = tmp_path / "module.py"
    path.write_text("def late():\n    from clusterjobs.tasks import drain\n    from . import admission\n")
    assert set(imported("portal.quotas.module", path)) >= {"clusterjobs.tasks", "portal.quotas.admission"}


def test_a_circle_is_found():
    graph = {"a": {"b": {"a.x"}}, "b": {"c": {"b.y"}}, "c": {"a": {"c.z"}}}
    assert cycles(graph) == [["a", "b", "c", "a"]]


def test_no_package_imports_one_that_imports_it_back():
    graph = package_graph()
    described = [
        " -> ".join(circle)
        + ": "
        + "; ".join(
            f"{a} -> {b} in {', '.join(sorted(graph[a][b]))}"
            for a, b in zip(circle, circle[1:], strict=False)
        )
        for circle in cycles(graph)
    ]
    assert described == []


def test_shared_pieces_import_no_app():
    graph = package_graph()
    assert {
        target: sorted(names) for target, names in graph.get(SHARED, {}).items() if target != "site"
    } == {}


def test_no_app_imports_the_site():
    graph = package_graph()
    assert {app: sorted(graph[app]["site"]) for app in graph if "site" in graph[app]} == {}


@pytest.mark.parametrize("package", [*APPS, SHARED, "taller_cli"])
def test_no_module_is_longer_than_the_limit(package):
    long = {
        name: length
        for name, path in modules(package)
        if owner(name) in (package, None) and (length := len(path.read_text().splitlines())) > LONGEST_MODULE
    }
    assert long == {}


def test_the_command_line_imports_nothing_of_the_portal():
    names = {module for name, path in modules("taller_cli") for module in imported(name, path)}
    assert {module for module in names if owner(module)} == set()
