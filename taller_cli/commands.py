"""The command groups kept in modules of their own: importing each registers it on ``cli``.

taller_cli/main.py imports this module once, after ``cli`` exists; a new group adds its line here.
"""

from . import (  # noqa: F401
    admin,
    audit,
    credentials,
    deployments,
    dvc_remote,
    models,
    notifications,
    pipelines,
    provenance,
    schedules,
    snaps,
    sweeps,
    templates,
    tokens,
)
