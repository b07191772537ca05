"""Reading single values out of compacted JSON-LD, shared by every record mapping (protocol/serialize.py,
protocol/org_serialize.py): a value or a one-element list, an IRI as a string or an object with an ``id``, text
as a string or a value object. Anything else raises MalformedInput naming the field. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from protocol.errors import MalformedInput

__all__ = ["node_id", "one", "text"]


def one(value: Any, key: str) -> Any:
    """The value itself, or the only item of a one-element list."""
    if isinstance(value, list):
        if len(value) != 1:
            raise MalformedInput(f"{key} must be a single value, got {len(value)}", field=key)
        return value[0]
    return value


def node_id(value: Any, key: str, *, required: bool = True) -> str | None:
    """An IRI: a string, or an object's ``id`` (or ``@id``)."""
    value = one(value, key)
    if isinstance(value, Mapping):
        value = value["id"] if "id" in value else value.get("@id")
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise MalformedInput(f"{key} must be an IRI (a string or an object with an id)", field=key)
    return value


def text(value: Any, key: str, *, required: bool = False) -> str | None:
    """A string, or a value object's ``@value``; None when absent unless ``required``."""
    value = one(value, key)
    if isinstance(value, Mapping):
        value = value.get("@value")
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise MalformedInput(f"{key} must be text", field=key)
    return value
