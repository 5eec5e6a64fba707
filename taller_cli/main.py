"""The `taller` command (``taller_cli.main:cli``): the group and its core commands (``base``),
and the groups kept in modules of their own, registered on it once, here (``commands``). The
modules import the group from ``base``, never from here, so no import runs in a circle."""

from . import commands, templates  # noqa: F401 (they add their commands to the group)
from .base import TallerError, cli, default_name, finish, job_request, metrics_of, run_row  # noqa: F401

__all__ = ["TallerError", "cli", "default_name", "finish", "job_request", "metrics_of", "run_row"]
