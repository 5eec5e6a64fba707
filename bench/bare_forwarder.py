"""The serving path's ceiling on the bench's machine: a WSGI application that passes a POST to the
model server and its answer back through the portal's own upstream connections, and does nothing
else (no credential, no count, no Django request). bench_serving.py runs it under the same
gunicorn as the portal: what it reaches is what any forwarder written in Python could, on a machine
where the client, the forwarder and the model server share the cores."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
django.setup()

from deployments.serving import _post  # noqa: E402 - after Django is set up

MODEL_SERVER = os.environ["BENCH_MODEL_SERVER"]


def application(environ, start_response):
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    answer = _post(MODEL_SERVER, body, environ.get("CONTENT_TYPE", "application/json"))
    data = answer.read()
    answer.release_conn()
    start_response(f"{answer.status} {answer.reason}", [("Content-Type", answer.headers["Content-Type"])])
    return [data]
