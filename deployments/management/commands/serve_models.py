"""``manage.py serve_models``: the embedded default's model servers (see ``deployments.local``),
kept in line with the deployments until SIGTERM or SIGINT, which stops them all."""

import signal
import time

from django.core.management.base import BaseCommand
from django.db import DatabaseError

from deployments.actions import follow_aliases
from deployments.local import LocalServing
from deployments.traffic import prune


class Command(BaseCommand):
    help = "Run the local deployments' model servers (the embedded default)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between two looks")
        parser.add_argument("--follow-every", type=float, default=30.0, help="seconds between alias checks")

    def handle(self, *args, interval: float, follow_every: float, **options) -> None:
        serving = LocalServing()
        stopping = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stopping.append(True))
        next_follow = next_prune = 0.0
        try:
            while not stopping:
                try:
                    if time.monotonic() >= next_follow:
                        follow_aliases()
                        next_follow = time.monotonic() + follow_every
                    if time.monotonic() >= next_prune:
                        prune()
                        next_prune = time.monotonic() + 3600
                    serving.tick()
                except DatabaseError as error:  # the database away for a moment: look again later
                    self.stderr.write(f"serve_models: {error}")
                time.sleep(interval)
        finally:
            serving.stop_all()
