"""Speed targets, run by `make bench` as `python -m bench`.

Each ``bench_*.py`` module has ``run() -> list[dict]``; a row is ``{name, baseline, ours, ratio,
target, ok}``, where ``ratio`` compares ours to a baseline measured in the same run (never an
absolute time), and ``ok`` says whether the target is met."""
