"""Speed targets, measured as ratios against a baseline measured in the same run (`make bench`).

`python -m bench` prepares a database of its own, then runs every module ``bench/bench_*.py``
that defines ``run() -> list[dict]`` and prints one table. Each row is a dict with ``name``,
``baseline``, ``ours``, ``ratio``, ``target`` (text) and ``pass`` (bool; ``ok`` is read the same), and optionally ``unit``.
"""
