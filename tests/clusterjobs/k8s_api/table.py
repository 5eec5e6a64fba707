"""The store of one resource, kept in key order as a real API server's watch cache is."""

from __future__ import annotations

import bisect
from collections.abc import Iterator, MutableMapping


class Table(MutableMapping):
    """One resource's objects by (namespace, name), with the keys also kept in sorted order (on
    every store and delete), as the watch cache a real API server serves lists from: a page costs
    what the page holds, not what the store holds."""

    def __init__(self) -> None:
        self._objects: dict[tuple[str, str], dict] = {}
        self._keys: list[tuple[str, str]] = []

    def __getitem__(self, key: tuple[str, str]) -> dict:
        return self._objects[key]

    def __setitem__(self, key: tuple[str, str], obj: dict) -> None:
        if key not in self._objects:
            bisect.insort(self._keys, key)
        self._objects[key] = obj

    def __delitem__(self, key: tuple[str, str]) -> None:
        del self._objects[key]
        del self._keys[bisect.bisect_left(self._keys, key)]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._objects)

    def __len__(self) -> int:
        return len(self._objects)

    def __contains__(self, key: object) -> bool:
        return key in self._objects

    def get(self, key: tuple[str, str], default=None):
        return self._objects.get(key, default)

    def items(self):
        return self._objects.items()

    def values(self):
        return self._objects.values()

    def span(self, namespace: str | None, after: tuple[str, str] | None) -> tuple[int, int]:
        """The positions in sorted order of the keys in ``namespace`` (None: all) after ``after``."""
        keys = self._keys
        if namespace is None:
            return (bisect.bisect_right(keys, after) if after else 0), len(keys)
        start = bisect.bisect_left(keys, (namespace, ""))
        if after:
            start = max(start, bisect.bisect_right(keys, after))
        return start, bisect.bisect_left(keys, (namespace + "\0", ""))

    def walk(self, start: int, end: int) -> Iterator[tuple[tuple[str, str], dict]]:
        keys, objects = self._keys, self._objects
        for i in range(start, end):
            yield keys[i], objects[keys[i]]

    def count(self, namespace: str) -> int:
        start, end = self.span(namespace, None)
        return end - start

    def in_namespace(self, namespace: str) -> list[tuple[tuple[str, str], dict]]:
        return list(self.walk(*self.span(namespace, None)))
