"""The watcher loop in a thread, and a bounded wait, for the tests that follow jobs on a backend."""

import threading
import time

from django.db import connection

from clusterjobs.watcher import follow


def wait_for(predicate, timeout: float, what: str):
    """The first truthy value of ``predicate()``; fails after ``timeout`` seconds (a bound on
    something that must happen, not a measure of speed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Watcher:
    """The watch_jobs loop in a thread, stopped as SIGTERM stops the command."""

    def __init__(self, backend) -> None:
        self.stop = threading.Event()

        def run() -> None:
            try:
                follow(self.stop, backend)
            finally:
                connection.close()

        self.thread = threading.Thread(target=run, name="watcher")
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=15)
        assert not self.thread.is_alive()
