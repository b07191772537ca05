"""JSON Schemas of the owner API, and the validator that applies them.

Each route declares its request body, query and path parameters and its answers once (node/api.py); that one
declaration both checks every request before its handler runs and describes the route in /api/openapi.json, so
the document cannot promise what the validator does not enforce (docs/ARCHITECTURE.md §3.4: one edge decides
statuses). Response bodies of the graph's records are derived from their dataclasses (node/models.py), the
same classes ``as_json`` serialises.

The schemas are JSON Schema 2020-12, the dialect of OpenAPI 3.1. Patterns use only syntax that Python's ``re``
and ECMA-262 read alike (``\\uXXXX`` escapes, no inline flags), since clients generate and check with either.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jsonschema_rs

from node.errors import BadInput
from node.models import (
    Circle,
    DueEntry,
    FadingEntry,
    Identity,
    Interaction,
    LayerReport,
    MergeRecord,
    MergeSuggestion,
    Note,
    Person,
    Provenance,
    Relationship,
    TieStrengthPart,
)
from protocol.vocab import RELATIONSHIP_TYPES

__all__ = [
    "COMPONENTS",
    "ERROR",
    "ERROR_STATUSES",
    "MUTUAL_TYPE",
    "RELATIONSHIP_TYPE",
    "Param",
    "Schema",
    "Validator",
    "dataclass_schema",
    "date_text",
    "integer",
    "nullable",
    "obj",
    "page_of",
    "query_value",
    "ref",
    "text",
    "text_list",
]

Schema = dict[str, Any]

# Control characters (Unicode category Cc) other than tab and newline: node.graph._text refuses them.
_CONTROLS = "\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f"
_PLAIN = f"^[^{_CONTROLS}]*$"
# At least one character that is neither white space nor a control: what survives the graph's strip().
_NONBLANK = f"^[^{_CONTROLS}]*[^\\s{_CONTROLS}][^{_CONTROLS}]*$"
# vCard's year-less birthday, --MM-DD, for days that exist in some year (node.graph._date).
_MONTH_DAY = (
    "^--(02-(0[1-9]|[12][0-9])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|(0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01]))$"
)


def text(limit: int, *, nonblank: bool = False, description: str | None = None) -> Schema:
    """Text the graph stores: at most ``limit`` characters, no control characters but tab and newline."""
    schema: Schema = {"type": "string", "maxLength": limit, "pattern": _NONBLANK if nonblank else _PLAIN}
    if nonblank:
        schema["minLength"] = 1
    if description:
        schema["description"] = description
    return schema


def nullable(schema: Schema) -> Schema:
    """``schema`` or null (null clears a field, or leaves it unset)."""
    kind = schema.get("type")
    if isinstance(kind, str):
        return {**schema, "type": [kind, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def integer(lo: int, hi: int, *, description: str | None = None) -> Schema:
    schema: Schema = {"type": "integer", "minimum": lo, "maximum": hi}
    if description:
        schema["description"] = description
    return schema


def date_text(description: str) -> Schema:
    """A date as node.graph._date reads it: YYYY-MM-DD, or --MM-DD without a year."""
    return {
        "type": "string",
        "anyOf": [{"format": "date"}, {"pattern": _MONTH_DAY}],
        "description": description,
    }


def text_list(item: Schema, *, max_items: int, description: str | None = None) -> Schema:
    schema: Schema = {"type": "array", "items": item, "maxItems": max_items}
    if description:
        schema["description"] = description
    return schema


def obj(
    properties: Mapping[str, Schema],
    *,
    required: Sequence[str] = (),
    description: str | None = None,
    additional: bool = False,
    min_properties: int | None = None,
) -> Schema:
    """A JSON object; unknown members are refused unless ``additional``."""
    schema: Schema = {"type": "object", "properties": dict(properties), "additionalProperties": additional}
    if required:
        schema["required"] = list(required)
    if min_properties is not None:
        schema["minProperties"] = min_properties
    if description:
        schema["description"] = description
    return schema


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def page_of(item: Schema) -> Schema:
    """The answer of a paged listing (node.api._page_json)."""
    return obj(
        {
            "items": {"type": "array", "items": item},
            "total": {"type": ["integer", "null"], "description": "null where counting costs too much"},
            "offset": {"type": "integer", "minimum": 0},
            "limit": {"type": "integer", "minimum": 1},
            "next_offset": {"type": ["integer", "null"], "description": "the next page's offset, or null"},
        },
        required=("items", "total", "offset", "limit", "next_offset"),
    )


RELATIONSHIP_TYPE: Schema = {
    "type": "string",
    "anyOf": [{"enum": list(RELATIONSHIP_TYPES)}, {"enum": [t.iri for t in RELATIONSHIP_TYPES.values()]}],
    "description": "a relationship term (XFN, vCard RELATED, business terms), by name or IRI",
}
#: The terms two Kith owners can offer each other: symmetric ones (federation/kith.py connect).
MUTUAL_TYPE: Schema = {
    "type": "string",
    "anyOf": [
        {"enum": [t.name for t in RELATIONSHIP_TYPES.values() if t.mutual]},
        {"enum": [t.iri for t in RELATIONSHIP_TYPES.values() if t.mutual]},
    ],
    "description": "a symmetric relationship term (friend, colleague, met, ...), by name or IRI",
}


# -- records, from their dataclasses ---------------------------------------------------------------------------
_RECORDS: tuple[type, ...] = (
    TieStrengthPart,
    Provenance,
    Identity,
    Person,
    Relationship,
    Interaction,
    Note,
    Circle,
    MergeSuggestion,
    MergeRecord,
    DueEntry,
    FadingEntry,
    LayerReport,
)
_SCALARS: dict[Any, Schema] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
    Any: {},
}


def _type_schema(hint: Any) -> Schema:
    """The JSON Schema of what ``as_json`` makes of a value of type ``hint``."""
    if hint in _SCALARS:
        return dict(_SCALARS[hint])
    if hint in _RECORDS:
        return ref(hint.__name__)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        parts = [_type_schema(a) for a in args]
        if all(set(p) == {"type"} for p in parts):  # int | None -> {"type": ["integer", "null"]}
            return {"type": [p["type"] for p in parts]}
        return {"anyOf": parts}
    if origin in (tuple, list):
        item = args[0] if args else Any
        return {"type": "array", "items": _type_schema(item)}
    if origin is dict:
        return {"type": "object", "additionalProperties": _type_schema(args[1])}
    raise TypeError(f"no JSON Schema for {hint!r}; add it to node/api_schema.py")


def dataclass_schema(cls: type) -> Schema:
    """A record's schema from its fields: every field is always present in ``as_json``'s output."""
    hints = typing.get_type_hints(cls)
    fields = [f.name for f in dataclasses.fields(cls)]
    return obj({name: _type_schema(hints[name]) for name in fields}, required=fields)


ERROR = obj(
    {
        "error": obj(
            {
                "status": {"type": "integer", "description": "the HTTP status, repeated"},
                "message": {"type": "string", "description": "what went wrong and what to do next"},
                "field": {"type": "string", "description": "the input that is wrong, when one is"},
            },
            required=("status", "message"),
        )
    },
    required=("error",),
    description="Every error: {error: {status, message, field?}}",
)

COMPONENTS: dict[str, Schema] = {cls.__name__: dataclass_schema(cls) for cls in _RECORDS} | {"Error": ERROR}

#: What each error status means on this API (node/errors.py, protocol/errors.py, federation/errors.py).
ERROR_STATUSES: dict[int, str] = {
    400: "The request is malformed or a value is invalid (field names it)",
    401: "Missing or wrong owner token",
    403: "The peer refused, or the actor is blocked",
    404: "No such resource (missing and forbidden look the same)",
    405: "The path exists, but not with this method",
    409: "Conflicts with the current state (e.g. the identity belongs to another person)",
    410: "The owner's actor was deleted: nothing more is done as it",
    413: "The request body is larger than server.max_body_bytes",
    502: "A peer could not be reached or answered badly",
    503: "A peer is rate-limited or unavailable; try again later",
    504: "A peer did not answer in time",
}


# -- validation ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Param:
    """A query or path parameter. Query values arrive as text: integers are read as such before the check."""

    name: str
    schema: Schema
    description: str = ""
    required: bool = False


_TYPE_WORDS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a JSON object",
    "null": "null",
}


def _walk(schema: Schema, steps: Sequence[str | int]) -> Schema:
    """The part of ``schema`` at a schema path ({} where the path leaves it)."""
    node: Any = schema
    for step in steps:
        if isinstance(node, dict) and isinstance(step, str):
            node = node.get(step)
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            node = node[step]
        else:
            return {}
    return node if isinstance(node, dict) else {}


def _choices(schema: Any) -> list[Any]:
    """The allowed values of an enum, or of the first enum among a schema's alternatives."""
    if not isinstance(schema, dict):
        return []
    if "enum" in schema:
        return list(schema["enum"])
    for alternative in schema.get("anyOf", []):
        found = _choices(alternative)
        if found:
            return found
    return []


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _reason(error: jsonschema_rs.ValidationError, sub: Schema) -> str:
    """Why a value fails, in words that say what to send instead (``sub``: the schema it failed)."""
    kind, info, value = error.kind.name, error.kind.as_dict(), error.instance
    if kind == "type":
        return "must be " + " or ".join(_TYPE_WORDS.get(str(t), str(t)) for t in info.get("types", []))
    if kind in ("enum", "anyOf") and _choices(sub):
        return f"{_show(value)} is not allowed; use one of: {', '.join(str(c) for c in _choices(sub))}"
    if kind == "const":
        return f"must be {info.get('expected_value')!r}"
    if kind == "maxLength":
        return f"is longer than {info.get('limit')} characters"
    if kind in ("minLength", "minProperties"):
        return "must not be empty"
    if kind == "pattern" and sub.get("pattern") not in (_PLAIN, _NONBLANK) and sub.get("description"):
        return f"must be {sub['description']}"  # a pattern of its own (a key, a number): say what it wants
    if kind == "pattern":
        blank = isinstance(value, str) and not value.strip()
        return "must not be empty or blank" if blank else "contains control characters"
    if kind in ("minimum", "maximum"):
        return f"must be from {sub.get('minimum')} to {sub.get('maximum')}"
    if kind == "maxItems":
        return f"may list at most {info.get('limit')} items"
    if kind == "minItems":
        return f"must list at least {info.get('limit')} item{'s' if info.get('limit') != 1 else ''}"
    if kind == "uniqueItems":
        return "lists the same item twice"
    if kind == "format" and info.get("format") == "date":
        return "must be a date like 2024-05-01"
    if kind == "propertyNames":
        inner = info.get("error")
        allowed = ", ".join(str(c) for c in _choices(sub) or _choices(sub.get("propertyNames")))
        return f"has an unknown key {_show(getattr(inner, 'instance', None))}; keys are: {allowed}"
    if kind == "anyOf" and sub.get("description"):
        return f"must be {sub['description']}"
    message = str(error.message)
    return message if len(message) <= 200 else message[:197] + "..."


def _message(error: jsonschema_rs.ValidationError, root: Schema, where: str) -> tuple[str, str | None]:
    """A sentence for one problem the validator found, and the top-level field it concerns."""
    path = [str(p) for p in error.instance_path]
    field = path[0] if path else None
    kind, info = error.kind.name, error.kind.as_dict()
    sub = _walk(root, list(error.schema_path)[:-1])
    if kind == "required":
        missing = str(info.get("property"))
        return f"{'.'.join([*path, missing])} is required in the {where}", field or missing
    if kind == "additionalProperties":
        extra = sorted(str(k) for k in info.get("unexpected", []))
        allowed = ", ".join(sorted(sub.get("properties", {}))) or "none"
        name = ".".join([*path, extra[0]]) if extra else ".".join(path)
        return f"unknown field {name!r} in the {where}; fields are: {allowed}", field or next(
            iter(extra), None
        )
    if kind == "anyOf" and not _choices(sub):
        described = sub.get("description")
        alternatives = sub.get("anyOf", [])
        if described and alternatives and all("required" in alt for alt in alternatives):
            # Alternatives that each need a member ("a display_name, or an identity"): say what is wanted.
            first = alternatives[0]["required"][0]
            wanted = f"{described[0].lower()}{described[1:]}"
            return f"{'.'.join(path) or 'the ' + where} must have {wanted}", field or first
        tried = [e for alternative in info.get("context", []) for e in alternative]
        if tried and not described:
            # The alternative the value came closest to: the one whose complaint lies deepest in it.
            closest = max(tried, key=lambda e: (len(e.instance_path), e.kind.name != "type"))
            return _message(closest, root, where)
    name = ".".join(path) or where
    return f"{name} {_reason(error, sub)}", field


def _error_order(error: jsonschema_rs.ValidationError) -> tuple[bool, int, bool, bool]:
    # What the client sent wrong is reported before what it left out, and a plain rule before a choice among
    # alternatives (whose own message is vaguer).
    path = error.instance_path
    return (not path, len(path), error.kind.name == "required", error.kind.name == "anyOf")


def _surrogate_at(value: Any, path: tuple[str, ...] = ()) -> tuple[str, ...] | None:
    """Where a string holds a lone surrogate (JSON's "\\ud800" decodes to one; it is not text)."""
    if isinstance(value, str):
        return path if any("\ud800" <= c <= "\udfff" for c in value) else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(key, str) and _surrogate_at(key) is not None:
            return (*path, key)
        found = _surrogate_at(item, (*path, str(key)))
        if found is not None:
            return found
    return None


class Validator:
    """Checks values against one schema (``format`` asserted) and raises BadInput for the first problem.

    jsonschema-rs, because of the event loop: it checks a 1 MiB body in milliseconds, where the pure-Python
    validator took seconds."""

    def __init__(self, schema: Schema, *, where: str = "request body", field: str | None = None) -> None:
        self.schema = schema
        self.where = where
        self.field = field  # what a problem with the whole value is reported against (a parameter's name)
        self._v = jsonschema_rs.Draft202012Validator(schema, validate_formats=True)

    def check(self, value: Any) -> None:
        try:
            if self._v.is_valid(value):
                return
        except UnicodeEncodeError:  # the validator reads text as UTF-8, which a lone surrogate is not
            where = _surrogate_at(value) or ()
            name = ".".join(where) or self.where
            raise BadInput(
                f"{name} contains an unpaired surrogate, which is not text",
                field=where[0] if where else self.field,
            ) from None
        errors = list(itertools.islice(self._v.iter_errors(value), 100))
        message, field = _message(min(errors, key=_error_order), self.schema, self.where)
        raise BadInput(message, field=field or self.field)


_INTEGER = re.compile(r"-?[0-9]{1,18}")


def query_value(param: Param, raw: str) -> Any:
    """A query parameter's text as the type its schema declares (integers are sent as digits)."""
    kind = param.schema.get("type")
    if kind == "integer" or (isinstance(kind, list) and "integer" in kind):
        if not _INTEGER.fullmatch(raw.strip()):
            raise BadInput(f"{param.name} must be a whole number", field=param.name)
        return int(raw)
    return raw
