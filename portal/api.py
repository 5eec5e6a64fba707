"""What every API view shares: JSON errors with a message per field, never a 500 for bad input.

Every app's API uses these pieces:

- ``exception_handler``: DRF's, also turning our actions' Django ValidationErrors into 400s
  with fields (nested as the body nests them: a view's ``error_groups``), a
  ``portal.errors.ServiceUnavailable`` into a 503, and a body over
  ``DATA_UPLOAD_MAX_MEMORY_SIZE`` into a 413; every error body is a JSON object
  (``{"detail": ...}`` or ``{"field": [...]}``).
- ``JSONParser``: DRF's, answering 400 for JSON nested deeper than any request of ours needs
  (Python's decoder raises RecursionError on ``[`` × 100,000, which was a 500).
- ``StrictSerializerMixin``: put it first in the bases of every serializer that reads input, so
  that a field the API does not know is a 400 instead of being silently dropped.
- ``postprocess_error_responses``: a drf-spectacular hook documenting the error responses of every
  operation and marking request bodies closed (``additionalProperties: false``).
"""

from collections.abc import Mapping

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions, negotiation, parsers, renderers, serializers
from rest_framework.views import exception_handler as drf_exception_handler

from portal.errors import ServiceUnavailable

# No request body of the API nests deeper than a few levels (a job: object > resources > value).
MAX_JSON_DEPTH = 32


def _nested_deeper_than(value: object, limit: int) -> bool:
    """Whether a decoded JSON value nests lists/objects more than ``limit`` levels (no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        if children and depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing deeply nested bodies with a 400 instead of a 500.

    Python's decoder recurses once per level and raises RecursionError past ~1,000 levels; below
    that, code that walks the value (str() in an error message, a serializer) could still hit the
    limit. So a body nested deeper than MAX_JSON_DEPTH is refused before anything reads it.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        too_deep = _("The JSON body is nested too deeply (more than %(n)s levels).") % {"n": MAX_JSON_DEPTH}
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError(too_deep) from None
        if _nested_deeper_than(data, MAX_JSON_DEPTH):
            raise exceptions.ParseError(too_deep)
        return data


class BrowsableAPIRenderer(renderers.BrowsableAPIRenderer):
    """DRF's browsable API, whose templates style elements with style="" attributes and an inline
    <style>: its pages allow inline styles (never inline scripts) in their Content-Security-Policy."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is not None:
            response._csp_replace = {"style-src": ["'self'", "'unsafe-inline'"]}
        return super().render(data, accepted_media_type, renderer_context)


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_code = "payload_too_large"


class Unavailable(exceptions.APIException):
    status_code = 503
    default_detail = gettext_lazy("A service the portal needs is unavailable; try again shortly.")
    default_code = "service_unavailable"


def _grouped(errors: dict, groups: Mapping[str, str]) -> dict:
    """Errors of fields the body nests in an object put under it: {"cpu": ...} becomes
    {"resources": {"cpu": ...}} for a view whose ``error_groups`` says {"cpu": "resources"}."""
    grouped: dict = {}
    for field, messages in errors.items():
        if field in groups:
            grouped.setdefault(groups[field], {})[field] = messages
        else:
            grouped[field] = messages
    return grouped


def exception_handler(exc, context):
    """DRF's handler, also turning our actions' Django ValidationErrors into 400s with fields, a
    service that is down (ServiceUnavailable) into a 503, and an oversized body (Django raises RequestDataTooBig when DRF reads it) into a JSON 413 instead
    of Django's HTML 400 page."""
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge(
            _("The request body is too large: the API accepts at most %(n)s bytes.")
            % {"n": settings.DATA_UPLOAD_MAX_MEMORY_SIZE}
        )
    elif isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            detail = _grouped(exc.message_dict, getattr(context.get("view"), "error_groups", {}))
        else:
            detail = {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, ServiceUnavailable):
        exc = Unavailable(str(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, list):
        # A ValidationError raised with a bare message: give it the same object shape as the others.
        response.data = {"non_field_errors": response.data}
    return response


@csrf_exempt  # it changes nothing; a CSRF failure page would hide the JSON 404
def not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    """Any address under /api/ that names nothing: a JSON 404 like every other API error."""
    return JsonResponse({"detail": _("No such API endpoint.")}, status=404)


class StrictSerializerMixin:
    # Rejects input fields the serializer does not accept (unknown or read-only) with a 400: DRF
    # drops them silently, which hides typos such as {"gpu": 2} for {"gpus": 2}. Nested serializers
    # that use the mixin check their own level. (A comment, not a docstring: drf-spectacular would
    # show a docstring as the description of every serializer that inherits it.)

    # Text fields take strings only: DRF would turn 5 or true into "5" or "True", hiding a client's
    # mistake (the schema says string, so a number is bad input).

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(str(key) for key in data if key not in writable)
            message = gettext_lazy("Unknown field: this API does not accept it.")
            read_only = gettext_lazy("This field is read-only.")
            errors = {key: [read_only if key in self.fields else message] for key in unknown}
            for name in sorted(writable & set(data)):
                value = data[name]
                if isinstance(self.fields[name], serializers.CharField) and value is not None:
                    if not isinstance(value, str):
                        errors[name] = [gettext_lazy("Must be a string.")]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class FileNegotiation(negotiation.BaseContentNegotiation):
    """For the views that stream a file (a CSV export, an artifact) themselves: whatever the
    client accepts, the file is the answer, and an error is JSON (no 406, no ``?format=``)."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return (renderers[0], renderers[0].media_type)


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "portal.accounts.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "A personal API token from your account page (or `python manage.py issue_token`), "
                "sent as `Authorization: Token <key>`; `Bearer <key>` is accepted too."
            ),
        }


ERROR_SCHEMA = {
    "type": "object",
    "description": "An error that is not about one field.",
    "properties": {"detail": {"type": "string", "description": "What went wrong, for people."}},
    "required": ["detail"],
}
VALIDATION_ERROR_SCHEMA = {
    "type": "object",
    "description": (
        "Bad input: each key names a field of the request (or `non_field_errors`, or `detail` for "
        "a body that is not valid JSON) and holds its messages; a nested object holds the errors "
        "of a nested field."
    ),
    "additionalProperties": {
        "oneOf": [
            {"type": "array", "items": {"type": "string"}},
            {"type": "string"},
            {"type": "object"},
        ]
    },
}
ERROR_RESPONSES = {
    "400": ("ValidationError", "Bad input: malformed JSON, a wrong type, an unknown field, a rule broken."),
    "401": ("Error", "No credentials, or a token that is malformed, unknown, expired or revoked."),
    "403": ("Error", "You may see this, but not do this: your role in the project, or not a site admin."),
    "404": ("Error", "No such object, or one in a project you cannot see."),
    "429": ("Error", "Too many requests: wait as many seconds as the Retry-After header says."),
}
# Only operations that take a request body can send one too large.
BODY_ERROR_RESPONSES = {
    "413": ("Error", "The request body is larger than the site accepts (DATA_UPLOAD_MAX_MEMORY_SIZE)."),
}


def _close_request_schemas(schema: dict, components: dict, seen: set[str]) -> None:
    """Set additionalProperties: false on an object schema and the components it refers to."""
    if not isinstance(schema, dict):
        return
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        name = ref.rsplit("/", 1)[1]
        if name not in seen and name in components:
            seen.add(name)
            _close_request_schemas(components[name], components, seen)
        return
    if schema.get("type") == "object" and "properties" in schema:
        schema.setdefault("additionalProperties", False)
    for key in ("properties",):
        for child in schema.get(key, {}).values():
            _close_request_schemas(child, components, seen)
    for key in ("allOf", "oneOf", "anyOf"):
        for child in schema.get(key, []):
            _close_request_schemas(child, components, seen)
    if isinstance(schema.get("items"), dict):
        _close_request_schemas(schema["items"], components, seen)


def postprocess_error_responses(result, generator, request, public):
    """Document the error answers every operation can give, and that request bodies are closed."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("Error", ERROR_SCHEMA)
    components.setdefault("ValidationError", VALIDATION_ERROR_SCHEMA)
    closed: set[str] = set()
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            errors = {**ERROR_RESPONSES, **(BODY_ERROR_RESPONSES if "requestBody" in operation else {})}
            for status, (component, description) in errors.items():
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {
                            "application/json": {"schema": {"$ref": f"#/components/schemas/{component}"}}
                        },
                    },
                )
            for status, response in responses.items():
                # An app's own error answers (502 MLflow unavailable, 503 ...) have the same body.
                if status[0] in "45" and not response.get("content"):
                    response["content"] = {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    }
            for media in operation.get("requestBody", {}).get("content", {}).values():
                _close_request_schemas(media.get("schema", {}), components, closed)
    return result
