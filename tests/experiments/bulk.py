"""Helpers for big experiments: 10,000 runs written straight into an MLflow server's SQLite
store (one transaction, seconds instead of minutes of API calls), and a forwarding proxy
that records what the portal asks MLflow."""

import json
import sqlite3
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests


def insert_runs(sqlite_path: Path, experiment_id: str, count: int, project: str) -> list[str]:
    """``count`` finished runs with a param ``i``, a metric ``acc`` and the project tag."""
    run_ids = [uuid.uuid4().hex for _ in range(count)]
    start = 1_700_000_000_000
    with sqlite3.connect(sqlite_path, timeout=30) as db:
        db.executemany(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status,"
            " start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id)"
            " VALUES (?, ?, 'LOCAL', '', '', 'bench', 'FINISHED', ?, ?, '', 'active', ?, ?)",
            [
                (
                    run_id,
                    f"run-{i:05d}",
                    start + i,
                    start + i + 1,
                    f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts",
                    int(experiment_id),
                )
                for i, run_id in enumerate(run_ids)
            ],
        )
        db.executemany(
            "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) VALUES ('acc', ?, ?, 0, 0, ?)",
            [((i % 1000) / 1000, start + i, run_id) for i, run_id in enumerate(run_ids)],
        )
        db.executemany(
            "INSERT INTO metrics (key, value, timestamp, step, is_nan, run_uuid) VALUES ('acc', ?, ?, 0, 0, ?)",
            [((i % 1000) / 1000, start + i, run_id) for i, run_id in enumerate(run_ids)],
        )
        db.executemany(
            "INSERT INTO params (key, value, run_uuid) VALUES ('i', ?, ?)",
            [(str(i), run_id) for i, run_id in enumerate(run_ids)],
        )
        db.executemany(
            "INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
            [
                (k, v, run_id)
                for i, run_id in enumerate(run_ids)
                for k, v in (("taller.project", project), ("mlflow.runName", f"run-{i:05d}"))
            ],
        )
    return run_ids


class RecordingForwarder:
    """An HTTP forwarder in front of MLflow that records each request (method, path, JSON body)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.requests: list[tuple[str, str, dict]] = []
        forwarder = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                try:
                    parsed = json.loads(body) if body else {}
                except ValueError:
                    parsed = {}
                forwarder.requests.append((self.command, self.path, parsed))
                headers = {k: v for k, v in self.headers.items() if k.lower() in {"content-type"}}
                answer = requests.request(
                    self.command, forwarder.upstream + self.path, data=body, headers=headers, timeout=60
                )
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
