"""The serving path's short way through the portal's middleware.

A call to ``/serve/<project>/<deployment>/invocations`` is a machine's: it carries its own
credential in a header, and no session, CSRF token, message, time zone or htmx state means
anything to it. This middleware sits right after the security ones (SecurityMiddleware's HTTPS
redirect and headers, the Content-Security-Policy) and hands such a call straight to the serving
view, past the rest of the chain and the URL resolver, which together cost the portal more CPU
per call than the view itself (measured under gunicorn with bench/bench_serving.py's model).

What the skipped middleware would still have done for it is done here: the host is checked
against ALLOWED_HOSTS (a bad one gets Django's own 400), the error messages are in the caller's
language (Accept-Language), and the answer says it must not be framed. Anything else under
``/serve/`` goes the usual way (and finds the URL resolver's 404).
"""

import re

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from .serving import invocations

SERVE_PATH = re.compile(r"/serve/(?P<slug>[-a-zA-Z0-9_]+)/(?P<name>[-a-zA-Z0-9_]+)/invocations")


class ServingMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        match = SERVE_PATH.fullmatch(request.path_info)
        if match is None:
            return self.get_response(request)
        try:
            request.get_host()
        except DisallowedHost:
            return self.get_response(request)  # Django's answer to it: a 400
        with translation.override(translation.get_language_from_request(request)):
            response = invocations(request, match["slug"], match["name"])
        response["X-Frame-Options"] = "DENY"
        return response
