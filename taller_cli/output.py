"""Tables for people, JSON for scripts."""

import json
from collections.abc import Iterable, Sequence
from typing import Any

import click

MAX_WIDTH = 48


def cell(value: Any, cut: bool = True) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        value = json.dumps(value, separators=(",", ":"))
    text = " ".join(str(value).split())
    return text if not cut or len(text) <= MAX_WIDTH else text[: MAX_WIDTH - 1] + "…"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Fixed-width columns, two spaces apart, headers in capitals; long cells cut with an ellipsis."""
    cells = [[cell(value) for value in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        widths = [max(width, len(value)) for width, value in zip(widths, row, strict=True)]
    lines = [
        "  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip()
        for row in [[header.upper() for header in headers], *cells]
    ]
    return "\n".join(lines)


def fields(pairs: Iterable[tuple[str, Any]]) -> str:
    """`key: value` lines, keys aligned, values whole."""
    pairs = list(pairs)
    width = max((len(key) for key, _value in pairs), default=0)
    return "\n".join(f"{key + ':':<{width + 1}} {cell(value, cut=False)}" for key, value in pairs)


def flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """{"a": {"b": 1}, "c": 2} -> [("a.b", 1), ("c", 2)]."""
    if isinstance(data, dict) and data:
        pairs = []
        for key, value in data.items():
            pairs += flatten(value, f"{prefix}.{key}" if prefix else str(key))
        return pairs
    return [(prefix, data)]


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
