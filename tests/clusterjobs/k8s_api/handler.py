"""The HTTP side of the test API server: routes, ``Status`` answers, and chunked watch streams."""

from __future__ import annotations

import bisect
import copy
import json
import socket
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from .protocol import API_PREFIX, KINDS, ApiError, Json, not_found, selector, status_body

if TYPE_CHECKING:
    from .cluster import FakeKubernetes


class Stream:
    """An open watch connection; the test can drop it."""

    def __init__(self, handler: BaseHTTPRequestHandler) -> None:
        self.handler = handler
        self.dropped = False


class _Handler(BaseHTTPRequestHandler):
    server_state: FakeKubernetes
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        return

    def setup(self) -> None:
        super().setup()
        with self.server_state.lock:
            self.server_state.connections.add(self.connection)

    def finish(self) -> None:
        with self.server_state.lock:
            self.server_state.connections.discard(self.connection)
        try:
            super().finish()
        except OSError:  # cut by a restart
            pass

    def _send_json(self, code: int, body: dict | Json) -> None:
        data = body.data if isinstance(body, Json) else json.dumps(body).encode()
        self.server_state._held(self.command, self.path)
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}") if length else {}

    def _route(self) -> tuple[str, str | None, str | None, str | None, dict]:
        """(plural, namespace, name, subresource, query) of the request path."""
        parts = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        path = parts.path
        for prefix in API_PREFIX.values():
            if path.startswith(prefix + "/"):
                rest = path[len(prefix) + 1 :].split("/")
                break
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if rest[0] == "namespaces" and (len(rest) <= 2):
            return "namespaces", None, rest[1] if len(rest) == 2 else None, None, query
        if rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        else:
            namespace = None
        plural = rest[0]
        if plural not in KINDS or API_PREFIX[KINDS[plural][2]] != prefix:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        return plural, namespace, name, sub, query

    def _handle(self, method: str) -> None:
        state = self.server_state
        with state.lock:
            state.requests.append((method, self.path))
            injected = state.fail_next.pop(0) if state.fail_next else None
        try:
            body = self._body() if method in ("POST", "PUT", "PATCH", "DELETE") else {}
            if injected:
                code, message = injected
                reason = {500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}.get(code, "")
                raise ApiError(code, reason, message)
            plural, namespace, name, sub, query = self._route()
            if method == "GET" and sub == "log":
                tail = int(query["tailLines"]) if "tailLines" in query else None
                data = state.pod_log(namespace, name, tail).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            if method == "GET" and name is None:
                labels, fields = query.get("labelSelector", ""), query.get("fieldSelector", "")
                if query.get("watch") in ("true", "1"):
                    self._watch(plural, namespace, labels, fields, query)
                else:
                    limit = int(query.get("limit") or 0)
                    token = query.get("continue", "")
                    self._send_json(200, state.list(plural, namespace, labels, fields, limit, token))
                return
            if method == "GET":
                obj = state.get(plural, namespace or "", name)
                if obj is None:
                    raise not_found(plural, name)
                self._send_json(200, obj)
            elif method == "POST" and name is None:
                state.received(plural, body)
                self._send_json(201, state.create(plural, namespace or "", body))
            elif method == "PUT" and name:
                state.received(plural, body)
                self._send_json(200, state.replace(plural, namespace or "", name, body))
            elif method == "PATCH" and name:
                self._send_json(200, state.patch(plural, namespace or "", name, body))
            elif method == "DELETE" and name:
                policy = body.get("propagationPolicy") or query.get("propagationPolicy") or "Background"
                self._send_json(200, state.delete(plural, namespace or "", name, policy))
            else:
                raise ApiError(
                    405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
                )
        except ApiError as error:
            self._send_json(error.code, error.body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")

    def do_PATCH(self) -> None:  # noqa: N802
        self._handle("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")

    # ---- watch ---------------------------------------------------------------------------------

    def _chunk(self, event: dict) -> None:
        data = json.dumps(event).encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _watch(self, plural: str, namespace: str | None, labels: str, fields: str, query: dict) -> None:
        state = self.server_state
        timeout = int(query.get("timeoutSeconds") or 1800)
        deadline = time.monotonic() + timeout
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        stream = Stream(self)

        selected = selector(labels, fields)

        def wanted(obj: dict) -> bool:
            return (namespace is None or obj["metadata"].get("namespace") == namespace) and selected(obj)

        with state.lock:
            state.streams.append(stream)
            since = query.get("resourceVersion", "")
            if since and since != "0" and int(since) < state.compacted[plural]:
                pending = [
                    {
                        "type": "ERROR",
                        "object": status_body(
                            410, "Expired", f"too old resource version: {since} ({state.compacted[plural]})"
                        ),
                    }
                ]
                position = None
            elif since and since != "0":
                position = int(since)
                pending = []
            else:
                pending = [
                    {"type": "ADDED", "object": copy.deepcopy(obj)}
                    for obj in state.objects[plural].values()
                    if wanted(obj)
                ]
                position = state.rv
        try:
            while True:
                for event in pending:
                    self._chunk(event)
                if position is None:
                    break
                with state.lock:
                    while True:
                        history = state.history[plural]
                        start = bisect.bisect_right(history, position, key=lambda entry: entry[0])
                        pending = [
                            {"type": type_, "object": copy.deepcopy(obj)}
                            for _rv, type_, obj in history[start:]
                            if wanted(obj)
                        ]
                        position = state.rv
                        remaining = deadline - time.monotonic()
                        if pending or stream.dropped or remaining <= 0:
                            break
                        state.lock.wait(min(remaining, 1.0))
                if stream.dropped:
                    # Cut the connection without the closing chunk: the client sees a broken stream.
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if not pending and time.monotonic() >= deadline:
                    break
            if query.get("allowWatchBookmarks") == "true":
                # As a real server may, before it ends the watch: where to resume from.
                with state.lock:
                    version = str(state.rv)
                self._chunk({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": version}}})
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
        finally:
            with state.lock:
                state.streams.remove(stream)
