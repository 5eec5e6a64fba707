"""Deployments: the portal's serving path against the same model server called directly, in the
same run. A real `mlflow models serve` of a scikit-learn model; the portal under gunicorn
forwards to it with a deployment key. Targets: at least 0.8 of the direct throughput, and at most
5 ms added at the median of one client's calls.

A third measure runs bench/bare_forwarder.py under the same gunicorn: a forwarder that does
nothing but forward. On a machine where the client, the forwarder and the model server share two
cores, every forwarder's CPU is taken from the model server, and this row shows how near to the
direct throughput any forwarder in Python gets there; the portal's row is read against it.

Both sides are called by the same client: the session the portal itself forwards with
(``upstream_session`` below). With a plain keep-alive session, the direct calls
measured 45-60 ms against 6-10 ms: the model server's answer comes in two segments, and on a
connection used again soon after its last answer Linux delays the acknowledgement the second
waits for (up to 40 ms). The portal's own connections to the model server, spread over its
workers, were used again less often and mostly escaped it, so the portal read as faster than the
model server itself. The forwarding session asks for quick acknowledgements, and so does the
direct client here.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import requests.adapters

from .server import free_port, gunicorn, paired, throughput


def upstream_session() -> requests.Session:
    """A keep-alive client whose answers are acknowledged at once, as the portal's own
    connections to model servers are (``deployments.serving.QUICK_ACK_POOLS``)."""
    from deployments.serving import QUICK_ACK_POOLS

    class QuickAckAdapter(requests.adapters.HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = QUICK_ACK_POOLS

    session = requests.Session()
    session.mount("http://", QuickAckAdapter())
    return session


CALLS = 200


def _model_server(folder: Path) -> tuple[str, subprocess.Popen]:
    import mlflow.sklearn
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    digits = load_digits()
    model = LogisticRegression(max_iter=200).fit(digits.data, digits.target)
    path = folder / "model"
    mlflow.sklearn.save_model(model, str(path))
    port = free_port()
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")])}
    process = subprocess.Popen(
        [str(Path(bin_dir) / "mlflow"), "models", "serve", "-m", str(path), "--env-manager", "local",
         "-h", "127.0.0.1", "-p", str(port), "-w", "2"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/ping", timeout=2).status_code == 200:
                return url, process
        except requests.RequestException:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError("mlflow models serve did not answer within 120 s")


def _medians_ms(direct: str, served: str, headers: dict, body: bytes) -> tuple[float, float]:
    """One client's calls, direct and through the portal alternately (load on the machine hits
    both alike); the median of each, in ms."""
    sessions = [upstream_session(), upstream_session()]
    sessions[0].headers.update({"Content-Type": "application/json"})
    sessions[1].headers.update({**headers, "Content-Type": "application/json"})
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(CALLS):
        for session, url, bucket in ((sessions[0], direct, times[0]), (sessions[1], served, times[1])):
            started = time.perf_counter()
            assert session.post(url, data=body, timeout=30).status_code == 200
            bucket.append(time.perf_counter() - started)
    return statistics.median(times[0]) * 1000, statistics.median(times[1]) * 1000


def run() -> list[dict]:
    import json

    from sklearn.datasets import load_digits

    from deployments.keys import create_key
    from deployments.models import Deployment, DeploymentStatus
    from portal.projects.models import Membership, Role
    from tests.factories import ProjectFactory, UserFactory

    folder = Path(tempfile.mkdtemp(prefix="taller-bench-serving-"))
    direct, process = _model_server(folder)
    try:
        user = UserFactory(username="server-bench")
        project = ProjectFactory(slug="serving-bench", requested_by=user)
        Membership.objects.create(project=project, user=user, role=Role.OWNER)
        deployment = Deployment.objects.create(
            project=project, name="digits", model_name="serving-bench.digits", version="1",
            serving_version="1", status=DeploymentStatus.RUNNING, backend="local", address=direct, created_by=user,
        )  # fmt: skip
        _key, raw = create_key(user, deployment, "bench")
        body = json.dumps({"inputs": load_digits().data[:4].tolist()}).encode()
        os.environ["TALLER_SERVE_KEY_RATE"] = "1000000000/m"
        # The serving path waits on the model server: as many portal workers as clients, so that
        # the portal is not the one that queues them (gunicorn's sync workers take one call each).
        with gunicorn(workers=4) as portal:
            served = f"{portal}/serve/serving-bench/digits/invocations"
            headers = {"Authorization": f"Token {raw}"}
            _medians_ms(f"{direct}/invocations", served, headers, body)  # warm up both paths
            direct_ms, portal_ms = _medians_ms(f"{direct}/invocations", served, headers, body)
            base, ours, ratio = paired(
                3,
                lambda: throughput(
                    f"{direct}/invocations", {}, seconds=3.0, body=body, session=upstream_session
                ),
                lambda: throughput(served, headers, seconds=3.0, body=body, session=upstream_session),
            )
        # The same gunicorn running a forwarder that does nothing else: this machine's ceiling.
        with gunicorn(workers=4, app="bench.bare_forwarder:application", BENCH_MODEL_SERVER=direct) as bare:
            ceiling_base, ceiling, ceiling_ratio = paired(
                3,
                lambda: throughput(
                    f"{direct}/invocations", {}, seconds=3.0, body=body, session=upstream_session
                ),
                lambda: throughput(
                    f"{bare}/invocations", {}, seconds=3.0, body=body, session=upstream_session
                ),
            )
    finally:
        process.terminate()
        process.wait(timeout=20)
    added = portal_ms - direct_ms
    return [
        {
            "name": "POST /serve/.../invocations throughput (4 clients)",
            "baseline": base,
            "ours": ours,
            "ratio": ratio,
            "target": ">= 0.80",
            "unit": "req/s",
            "ok": ratio >= 0.8,
        },
        {
            "name": "  the same through a bare forwarder (no portal): this machine's ceiling",
            "baseline": ceiling_base,
            "ours": ceiling,
            "ratio": ceiling_ratio,
            "target": "(reference)",
            "unit": "req/s",
            "ok": True,
        },
        {
            "name": "serving path: median of one client's calls",
            "baseline": direct_ms,
            "ours": portal_ms,
            "ratio": added,
            "target": "<= 5 ms added",
            "unit": "ms",
            "ok": added <= 5,
        },
    ]
