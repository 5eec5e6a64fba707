"""The graph of a run's steps, laid out on the server for the run page's SVG: a column per depth
(a step sits one column right of its deepest upstream step), a row per step within its column.
Each node carries its status as an icon and a word, so the graph reads without colour."""

from dataclasses import dataclass
from graphlib import TopologicalSorter

from django.utils.translation import gettext as _

from .models import StepRun, StepStatus

NODE_WIDTH = 200
NODE_HEIGHT = 48
COLUMN_GAP = 56
ROW_GAP = 16
MARGIN = 8

ICONS = {
    StepStatus.WAITING: "clock",
    StepStatus.STARTING: "send",
    StepStatus.SUBMITTED: "loader",
    StepStatus.RETRYING: "rotate-ccw",
    StepStatus.SUCCEEDED: "circle-check",
    StepStatus.FAILED: "circle-x",
    StepStatus.UPSTREAM_FAILED: "circle-slash",
    StepStatus.CANCELLED: "circle-slash",
    StepStatus.SKIPPED: "circle-slash",
}
JOB_ICONS = {"queued": "clock", "dispatching": "send", "pending": "hourglass", "running": "loader"}


@dataclass
class Node:
    step: StepRun
    x: int
    y: int
    icon: str
    word: str
    css: str


@dataclass
class Edge:
    x1: int
    y1: int
    x2: int
    y2: int


@dataclass
class Graph:
    nodes: list[Node]
    edges: list[Edge]
    width: int
    height: int


def step_word(step: StepRun) -> tuple[str, str, str]:
    """(icon, word, css status) of a step: a submitted step says what its job is doing."""
    job = step.job if step.status == StepStatus.SUBMITTED else None
    if job is not None:
        return JOB_ICONS.get(job.status, "loader"), job.get_status_display(), job.status
    return ICONS.get(step.status, "circle-dot"), step.get_status_display(), step.status


def layout(steps: list[StepRun]) -> Graph:
    """Where each step and arrow goes (a run's steps form no cycle: the definition was checked)."""
    by_name = {step.name: step for step in steps}
    graph = {step.name: [u for u in step.depends_on if u in by_name] for step in steps}
    depth: dict[str, int] = {}
    for name in TopologicalSorter(graph).static_order():
        depth[name] = 1 + max((depth[u] for u in graph[name]), default=-1)

    rows: dict[int, int] = {}
    places: dict[str, tuple[int, int]] = {}
    nodes = []
    for step in steps:
        column = depth[step.name]
        row = rows.get(column, 0)
        rows[column] = row + 1
        x = MARGIN + column * (NODE_WIDTH + COLUMN_GAP)
        y = MARGIN + row * (NODE_HEIGHT + ROW_GAP)
        places[step.name] = (x, y)
        icon, word, css = step_word(step)
        nodes.append(Node(step, x, y, icon, word, css))
    edges = [
        Edge(places[u][0] + NODE_WIDTH, places[u][1] + NODE_HEIGHT // 2, x, y + NODE_HEIGHT // 2)
        for node in nodes
        for u in node.step.depends_on
        if u in places
        for x, y in [(node.x, node.y)]
    ]
    columns = max(rows, default=0) + 1
    height = max(rows.values(), default=1)
    return Graph(
        nodes,
        edges,
        width=2 * MARGIN + columns * NODE_WIDTH + (columns - 1) * COLUMN_GAP,
        height=2 * MARGIN + height * NODE_HEIGHT + (height - 1) * ROW_GAP,
    )


def summary(steps: list[StepRun]) -> str:
    """The graph's text alternative: how many steps in each state."""
    counts: dict[str, int] = {}
    for step in steps:
        label = step.get_status_display()
        counts[label] = counts.get(label, 0) + 1
    parts = ", ".join(f"{n} {label}" for label, n in counts.items())
    return _("Pipeline graph: %(parts)s.") % {"parts": parts}
