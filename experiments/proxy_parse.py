"""Read an MLflow REST request once, the way MLflow's server will read it, and rebuild it.

MLflow's server fills a protobuf request message from the JSON body (``json_format.ParseDict``,
which takes each field under its proto name ``run_id`` or its JSON name ``runId`` and lets
the later one win) or, for a GET, from the query string (proto names only, the first of
repeated values). An authorizer that reads the raw body differently from that can be made to
check one object while MLflow acts on another. So the proxy never reads the raw request:

- the body is parsed once, refusing duplicate keys and nesting deeper than JSON allows here;
- each field is found under either spelling from the route's own protobuf descriptor
  (MLflow's, so a new alias cannot slip in); two spellings of one field are refused even when
  equal, and so is a value whose JSON type is not the field's (a string for a string, a
  number for a number, a list for a repeated field, an object for a message, a known name
  for an enum);
- fields the descriptor does not know are dropped: MLflow ignores them too (it parses with
  ``ignore_unknown_fields``), and dropping rather than refusing keeps clients newer than the
  server working;
- what is checked and forwarded is the rebuilt message: proto names only, one value each.

The result is plain data (dicts, lists, str, int, float, bool); enums become their names and
non-finite doubles the strings protobuf writes for them ('NaN', 'Infinity', '-Infinity').
"""

import functools
import json
import math
import re
import sys

from django.utils.translation import gettext as _
from google.protobuf.descriptor import Descriptor, FieldDescriptor

_INTEGER_RANGES = {
    FieldDescriptor.CPPTYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.CPPTYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.CPPTYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.CPPTYPE_UINT64: (0, 2**64 - 1),
}
_FLOATS = {FieldDescriptor.CPPTYPE_DOUBLE, FieldDescriptor.CPPTYPE_FLOAT}
_NON_FINITE = {"NaN", "Infinity", "-Infinity"}
_FLOAT32_MAX = 3.4028234663852886e38
_INTEGER_TEXT = re.compile(r"-?[0-9]+")


class Malformed(ValueError):
    """The request is not a message of the route's shape; ``message`` says why, for the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Found:
    """What the one walk of a request notes for the policy on its way, so that nothing walks the
    message again (a batch holds thousands of values): each value of a field ``names`` lists (a
    field's proto name -> what it names), in the message's order, and the key of every tag (an
    item of a ``tags`` field), at any depth."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names
        self.references: list[tuple[str, str]] = []
        self.tag_keys: list = []

    def note(self, name: str, value: object) -> None:
        """A field of the rebuilt message and its rebuilt value."""
        kind = self.names.get(name)
        if kind is not None:
            if isinstance(value, list):
                # An empty id in a list names nothing: looked up, it is a 404.
                self.references += [(kind, item) for item in value if isinstance(item, str)]
            elif isinstance(value, str) and value:
                self.references.append((kind, value))
        if name == "tags":
            for tag in value if isinstance(value, list) else [value]:
                if isinstance(tag, dict):
                    self.tag_keys.append(tag.get("key"))


def unsupported_fields(descriptor: Descriptor, _seen: frozenset = frozenset()) -> list[str]:
    """Fields of the message (at any depth) whose type this module cannot check: must be none."""
    found = []
    for field in descriptor.fields:
        if field.type in (FieldDescriptor.TYPE_BYTES, FieldDescriptor.TYPE_GROUP):
            found.append(f"{descriptor.full_name}.{field.name}")
        elif field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
            nested = field.message_type
            if nested.GetOptions().map_entry or nested.full_name.startswith("google.protobuf."):
                found.append(f"{descriptor.full_name}.{field.name}")
            elif nested.full_name not in _seen:
                found += unsupported_fields(nested, _seen | {descriptor.full_name})
    return found


def parse_json(raw: bytes) -> dict:
    """The body as a JSON object: malformed JSON, duplicate keys and deep nesting are refused."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw, object_pairs_hook=_no_duplicate_keys)
    except RecursionError:
        raise Malformed(_("The request body is nested too deeply.")) from None
    except UnicodeDecodeError:
        raise Malformed(_("The request body is not UTF-8.")) from None
    except ValueError as error:
        if isinstance(error, Malformed):
            raise
        raise Malformed(_("The request body is not JSON.")) from None
    if not isinstance(data, dict):
        raise Malformed(_("The request body must be a JSON object."))
    return data


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    data = dict(pairs)
    if len(data) != len(pairs):  # a key given twice: say which one came back first
        seen = set()
        for key, _value in pairs:
            if key in seen:
                raise Malformed(_("The field '%(field)s' appears twice.") % {"field": key})
            seen.add(key)
    return data


def from_json(data: dict, descriptor: Descriptor, found: Found | None = None) -> dict:
    """A JSON body rebuilt as the route's message: proto names, checked types, unknown keys dropped.
    ``found`` notes what the policy needs of the rebuilt message on the way."""
    # Where a value sits ('metrics[12].value') is only needed for a refusal's message: the walk
    # runs without building those paths (a batch holds thousands of values), and once more with
    # them when it refuses, to say where.
    try:
        return _message(data, descriptor, None, found)
    except Malformed:
        _message(data, descriptor, "", None)  # the same refusal, saying where
        raise


def from_query(pairs: list[tuple[str, str]], descriptor: Descriptor, found: Found | None = None) -> dict:
    """A GET query rebuilt as MLflow's server reads it: proto names only, one value a singular field.
    ``found`` notes what the policy needs of the rebuilt message."""
    fields = {field.name: field for field in descriptor.fields}
    values: dict[str, list[str]] = {}
    for key, value in pairs:
        if key in fields:
            values.setdefault(key, []).append(value)
    message = {}
    for name, given in values.items():
        field = fields[name]
        if field.is_repeated:
            message[name] = [_from_text(value, field, f"{name}[{i}]") for i, value in enumerate(given)]
        elif len(given) > 1:
            raise Malformed(_("The parameter '%(field)s' is given more than once.") % {"field": name})
        else:
            message[name] = _from_text(given[0], field, name)
    if found is not None:
        for name, value in message.items():
            found.note(name, value)
    return message


def to_query(message: dict) -> list[tuple[str, str]]:
    """A rebuilt message as query parameters (the inverse of ``from_query``)."""
    pairs = []
    for name, value in message.items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, bool):
                item = "true" if item else "false"
            pairs.append((name, str(item)))
    return pairs


def _where(prefix: str | None, name: str) -> str | None:
    if prefix is None:
        return None  # not followed (see from_json)
    return f"{prefix}.{name}" if prefix else name


def _item(path: str | None, index: int) -> str | None:
    return None if path is None else f"{path}[{index}]"


def _message(data: object, descriptor: Descriptor, where: str | None, found: Found | None) -> dict:
    if not isinstance(data, dict):
        raise Malformed(_("'%(field)s' must be an object.") % {"field": where or "body"})
    by_spelling = _spellings(descriptor)
    message: dict = {}
    spelled: dict[str, str] = {}
    for key, value in data.items():
        known = by_spelling.get(key)
        if known is None:
            continue
        field, name, repeated, plain, low, high, integer = known
        if name in spelled:
            raise Malformed(
                _("'%(first)s' and '%(second)s' are one field: send it once.")
                % {"first": _where(where, spelled[name]), "second": _where(where, key)}
            )
        spelled[name] = key
        if value is None:
            continue  # null is "not set" to protobuf
        if type(value) is plain and not repeated and (low is None or low <= value <= high):
            # A string for a string field, true/false for a bool, an integer in the field's range
            # for an integer, a finite float in range for a float: as it is (what _value gives).
            message[name] = value
        elif (
            integer
            and type(value) is str
            and not repeated
            and _INTEGER_TEXT.fullmatch(value)
            and low <= (number := int(value)) <= high
        ):
            # protobuf's JSON writes 64-bit integers as strings (a metric's step and timestamp):
            # what _value gives for one in range, without its walk.
            message[name] = number
        else:
            path = _where(where, name)
            if repeated:
                if not isinstance(value, list):
                    raise Malformed(_("'%(field)s' must be a list.") % {"field": path})
                message[name] = [_value(item, field, _item(path, i), found) for i, item in enumerate(value)]
            else:
                message[name] = _value(value, field, path, found)
        if found is not None and (name in found.names or name == "tags"):
            found.note(name, message[name])
    return message


# Field types whose JSON value is taken as it is when its Python type is exactly this one and
# it is within the bounds (``_value`` gives such a value back unchanged: an integer in range, a
# float that is finite and in range, which NaN and the infinities are not), and so is the text
# of an integer in range for an integer field; any other value goes through ``_value``.
_PLAIN = {
    FieldDescriptor.CPPTYPE_STRING: (str, None, None),
    FieldDescriptor.CPPTYPE_BOOL: (bool, None, None),
    FieldDescriptor.CPPTYPE_DOUBLE: (float, -sys.float_info.max, sys.float_info.max),
    FieldDescriptor.CPPTYPE_FLOAT: (float, -_FLOAT32_MAX, _FLOAT32_MAX),
    **{kind: (int, low, high) for kind, (low, high) in _INTEGER_RANGES.items()},
}
_NOT_PLAIN = (None, None, None)


@functools.cache
def _spellings(
    descriptor: Descriptor,
) -> dict[str, tuple[FieldDescriptor, str, bool, type | None, object, object, bool]]:
    """Each field of a message under each name protobuf's JSON parser accepts for it, with what
    the walk asks of it on every value: (field, proto name, repeated, the plain type or None, the
    bounds of a plain value or None, and whether it is an integer field)."""
    return {
        spelling: (
            field,
            field.name,
            field.is_repeated,
            *(
                _NOT_PLAIN
                if field.type == FieldDescriptor.TYPE_BYTES
                else _PLAIN.get(field.cpp_type, _NOT_PLAIN)
            ),
            field.cpp_type in _INTEGER_RANGES,
        )
        for field in descriptor.fields
        for spelling in (field.name, field.json_name)
    }


def _value(value: object, field: FieldDescriptor, where: str | None, found: Found | None = None):
    kind = field.cpp_type
    if kind == FieldDescriptor.CPPTYPE_MESSAGE:
        return _message(value, field.message_type, where, found)
    if field.type == FieldDescriptor.TYPE_BYTES:
        raise Malformed(_("'%(field)s' is not accepted through the proxy.") % {"field": where})
    if kind == FieldDescriptor.CPPTYPE_STRING:
        if not isinstance(value, str):
            raise Malformed(_("'%(field)s' must be a string.") % {"field": where})
        return value
    if kind == FieldDescriptor.CPPTYPE_BOOL:
        if not isinstance(value, bool):
            raise Malformed(_("'%(field)s' must be true or false.") % {"field": where})
        return value
    if kind in _INTEGER_RANGES:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        elif isinstance(value, str) and _INTEGER_TEXT.fullmatch(value):
            value = int(value)  # protobuf's JSON writes 64-bit integers as strings
        if not isinstance(value, int) or isinstance(value, bool):
            raise Malformed(_("'%(field)s' must be an integer.") % {"field": where})
        return _in_range(value, field, where)
    if kind in _FLOATS:
        if isinstance(value, str) and value in _NON_FINITE:
            return value
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise Malformed(_("'%(field)s' must be a number.") % {"field": where})
        try:
            value = float(value)
        except OverflowError:
            raise Malformed(_("'%(field)s' is out of range.") % {"field": where}) from None
        if not math.isfinite(value):
            return _non_finite_name(value)
        if kind == FieldDescriptor.CPPTYPE_FLOAT and abs(value) > _FLOAT32_MAX:
            raise Malformed(_("'%(field)s' is out of range.") % {"field": where})
        return value
    if kind == FieldDescriptor.CPPTYPE_ENUM:
        names = field.enum_type.values_by_name
        if isinstance(value, str) and value in names:
            return value
        numbers = field.enum_type.values_by_number
        if isinstance(value, int) and not isinstance(value, bool) and value in numbers:
            return numbers[value].name
        raise Malformed(
            _("'%(field)s' must be one of %(values)s.") % {"field": where, "values": ", ".join(sorted(names))}
        )
    raise Malformed(_("'%(field)s' is not accepted through the proxy.") % {"field": where})


def _from_text(text: str, field: FieldDescriptor, where: str):
    """A query parameter's value as the field's type (MLflow turns 'true'/'false' into booleans)."""
    kind = field.cpp_type
    if kind == FieldDescriptor.CPPTYPE_STRING:
        return _value(text, field, where)
    if kind == FieldDescriptor.CPPTYPE_BOOL:
        if text.lower() not in ("true", "false"):
            raise Malformed(_("'%(field)s' must be true or false.") % {"field": where})
        return text.lower() == "true"
    if kind in _INTEGER_RANGES or kind == FieldDescriptor.CPPTYPE_ENUM:
        return _value(int(text) if _INTEGER_TEXT.fullmatch(text) else text, field, where)
    if kind in _FLOATS:
        if text in _NON_FINITE:
            return text
        try:
            return _value(float(text), field, where)
        except ValueError:
            raise Malformed(_("'%(field)s' must be a number.") % {"field": where}) from None
    raise Malformed(_("'%(field)s' is not accepted in a query string.") % {"field": where})


def _in_range(value: int, field: FieldDescriptor, where: str) -> int:
    low, high = _INTEGER_RANGES[field.cpp_type]
    if not low <= value <= high:
        raise Malformed(_("'%(field)s' is out of range.") % {"field": where})
    return value


def _non_finite_name(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"
