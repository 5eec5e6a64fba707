"""System checks of the cluster jobs app, run by ``manage.py`` commands (migrate, runserver,
watch_jobs, check): a portal that may not run its executor, or whose jobs could not reach it,
refuses to start.

The address jobs are handed for the portal's MLflow proxy: a job's MLflow client that is redirected (``SECURE_SSL_REDIRECT`` sends plain http to https on the
same host and port, where nothing speaks TLS) or refused (a host outside ``ALLOWED_HOSTS``) retries
for minutes with nothing in its log. The checks put the job's first request through the portal's own
``SecurityMiddleware`` and host validation, as a web process would receive it.

- the redirect is checked by every command that runs the system checks (``migrate``, ``check``,
  ``runserver``, ``watch_jobs``): it only looks when ``SECURE_SSL_REDIRECT`` is on;
- the host, and a loopback address handed to Kubernetes pods, by ``check --deploy``.
"""

from io import BytesIO
from ipaddress import ip_address
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpResponse
from django.middleware.security import SecurityMiddleware

HINT = (
    "Set TALLER_JOB_PORTAL_URL to the portal's public https address, or to a Service in front of the "
    "web processes over plain http together with SECURE_REDIRECT_EXEMPT=^mlflow/ (docs/operations.md)."
)


def _first_request_of_a_job() -> WSGIRequest:
    """``GET <tracking>/api/2.0/mlflow/runs/get`` as the web process receives it: https when it came
    through the TLS proxy, plain http when straight from the cluster."""
    parts = urlsplit(settings.TALLER_JOB_TRACKING_URI)
    return WSGIRequest(
        {
            "REQUEST_METHOD": "GET",
            "SCRIPT_NAME": "",
            "PATH_INFO": f"{parts.path.rstrip('/')}/api/2.0/mlflow/runs/get",
            "QUERY_STRING": "",
            "SERVER_NAME": parts.hostname or "",
            "SERVER_PORT": str(parts.port or (443 if parts.scheme == "https" else 80)),
            "HTTP_HOST": parts.netloc.rpartition("@")[2],
            "wsgi.url_scheme": parts.scheme,
            "wsgi.input": BytesIO(),
        }
    )


@register(Tags.security)
def check_jobs_are_not_redirected(app_configs, **kwargs) -> list[Error]:
    if not settings.SECURE_SSL_REDIRECT:
        return []
    request = _first_request_of_a_job()
    try:
        response = SecurityMiddleware(lambda request: HttpResponse()).process_request(request)
    except DisallowedHost:
        return []  # refused before any redirect: check --deploy reports the host
    if response is None:
        return []
    return [
        Error(
            f"Jobs would be redirected from {settings.TALLER_JOB_TRACKING_URI} to {response['Location']} "
            "(SECURE_SSL_REDIRECT), and their MLflow client would fail there.",
            hint=HINT,
            id="clusterjobs.E001",
        )
    ]


@register(Tags.security, deploy=True)
def check_jobs_reach_the_portal(app_configs, **kwargs) -> list[Error]:
    errors = []
    request = _first_request_of_a_job()
    try:
        request.get_host()
    except DisallowedHost:
        errors.append(
            Error(
                f"Jobs would be refused (400) at {settings.TALLER_JOB_TRACKING_URI}: "
                f"{request.META['SERVER_NAME']} is not in ALLOWED_HOSTS.",
                hint="Add the host of TALLER_JOB_PORTAL_URL to ALLOWED_HOSTS.",
                id="clusterjobs.E002",
            )
        )
    host = urlsplit(settings.TALLER_JOB_TRACKING_URI).hostname or ""
    if settings.TALLER_EXECUTOR == "kubernetes" and _is_loopback(host):
        errors.append(
            Error(
                f"Kubernetes pods cannot reach the portal at {settings.TALLER_JOB_TRACKING_URI}: "
                "a loopback address is the pod's own.",
                hint=HINT,
                id="clusterjobs.E003",
            )
        )
    return errors


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


@register()
def local_executor_isolation(app_configs, **kwargs) -> list[Error]:
    """The local executor without a working bwrap runs every job as the portal's user: with DEBUG
    off that needs TALLER_LOCAL_EXECUTOR_UNISOLATED=true (the backend refuses jobs otherwise too)."""
    if settings.TALLER_EXECUTOR != "local":
        return []
    from .backends.local_sandbox import isolation_problem

    problem = isolation_problem()
    if problem is None:
        return []
    return [
        Error(
            problem,
            hint="apt-get install bubblewrap (and allow unprivileged user namespaces)",
            id="clusterjobs.E004",
        )
    ]
