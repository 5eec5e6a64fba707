"""A multi-worker gunicorn serving the bench settings, and a load generator measuring throughput."""

import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(workers: int = 2, app: str = "portal.wsgi:application", **environ: str):
    """Serve the portal (with the baselines), or another WSGI ``app`` of the repository, on
    127.0.0.1 and a free port, with ``environ`` added; yield its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_CONN_MAX_AGE": "60",  # one connection per worker, as in production
        "TALLER_API_RATE": "100000000/hour",  # throttled as in production, but never reached
        "PYTHONPATH": str(ROOT),
        **environ,
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            app,
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # a loaded machine imports Django in each worker slowly
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {process.returncode}")
            try:
                requests.get(f"{url}/api/", timeout=2)  # any answer: the workers are up
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not answer within 120 s") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def throughput(
    url: str,
    headers: dict,
    seconds: float = 4.0,
    concurrency: int = 4,
    body: bytes | None = None,
    session=requests.Session,
) -> float:
    """Requests per second that ``concurrency`` clients (each a ``session()``) get from ``url`` (a
    GET, or a POST of the JSON ``body`` when given); any non-200 aborts."""
    counts = [0] * concurrency
    failures: list[str] = []
    stop = time.monotonic() + seconds

    def client(index: int) -> None:
        client_session = session()
        client_session.headers.update(
            headers if body is None else {**headers, "Content-Type": "application/json"}
        )
        while time.monotonic() < stop and not failures:
            response = (
                client_session.get(url, timeout=30)
                if body is None
                else client_session.post(url, data=body, timeout=30)
            )
            if response.status_code != 200:
                failures.append(f"{url}: HTTP {response.status_code} {response.text[:200]}")
                return
            counts[index] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(failures[0])
    return sum(counts) / (time.monotonic() - started)


def paired(rounds: int, baseline, ours) -> tuple[float, float, float]:
    """Measure baseline and ours back to back ``rounds`` times; medians of each and of their ratios.

    On a shared machine the load drifts; a ratio of two measures taken moments apart, and the
    median over rounds, is steadier than comparing the best of each.
    """
    pairs = [(baseline(), ours()) for _ in range(rounds)]
    return (
        statistics.median(b for b, _o in pairs),
        statistics.median(o for _b, o in pairs),
        statistics.median(o / b for b, o in pairs),
    )
