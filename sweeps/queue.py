"""What sweeps hand to the workers. ``tasks.py`` installs its task when it is imported (every
process imports it at start, ``SweepsConfig.ready``), so the modules never import the tasks."""

_advance = None


def install(advance) -> None:
    global _advance
    _advance = advance


def send_advance(sweep_id: int) -> None:
    """Ask a worker to advance the sweep (count ended trials, start the next)."""
    _advance.delay(sweep_id)
