"""Speed targets, as ratios against a baseline measured in the same run (`make bench`).

`python -m bench` runs every ``bench/bench_*.py`` module's ``run()``, which returns rows
``{name, baseline, ours, ratio, target, ok}``, and prints one table.
"""
