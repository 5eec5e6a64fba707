"""Domain errors that any app's actions may raise, mapped to answers in one place each: the REST
API's exception handler (portal/api.py) and, for pages, ``ServiceUnavailableMiddleware``.

This module imports no app, so every app may raise these."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme


class ServiceUnavailable(Exception):
    """A service the action needs (MLflow, the cluster) did not answer; nothing was changed, and
    trying again later may work. The API answers 503; a page shows the message and sends the
    browser back to where it came from."""


class ServiceUnavailableMiddleware:
    """Pages: an action's ``ServiceUnavailable`` becomes the message on the page the request came
    from (a redirect to its referrer on this site, else to the home page), not a 500."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, ServiceUnavailable):
            return None
        messages.error(request, str(exception))
        referrer = request.headers.get("Referer", "")
        on_site = url_has_allowed_host_and_scheme(
            referrer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        return redirect(referrer if referrer and on_site else "/")
