import signal
from threading import Event

from django.core.management.base import BaseCommand

from clusterjobs.backends import get_backend
from clusterjobs.watcher import follow


class Command(BaseCommand):
    help = "Follow the jobs on the configured backend and apply their status changes (runs until stopped)."

    def handle(self, *args, **options) -> None:
        stop = Event()

        def on_signal(signum, frame) -> None:
            self.stdout.write(f"stopping on {signal.Signals(signum).name}")
            stop.set()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        backend = get_backend()
        self.stdout.write(f"watching the {backend.name} backend")
        applied = follow(stop, backend)
        self.stdout.write(f"stopped after applying {applied} statuses")
