"""Parsing hostile JSON: size first, then depth, so that a crafted body costs little and cannot crash us.

Python's decoder recurses per nesting level and raises RecursionError near depth 1000; we catch that and
also walk the result iteratively to enforce a much lower limit, since nothing legitimate in ActivityPub nests
deeply.
"""

from __future__ import annotations

import json
from typing import Any

from protocol.errors import MalformedInput, TooLarge

__all__ = ["MAX_BODY", "MAX_DEPTH", "MAX_VALUES", "load_json_object"]

MAX_BODY = 1 << 20
MAX_DEPTH = 32
MAX_VALUES = 20_000  # specs/PROTOCOL.md §3: no legitimate activity comes near it


def _shape_ok(value: Any, limit: int, max_values: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        seen += 1
        if depth > limit or seen > max_values:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True


def load_json_object(body: bytes, *, max_bytes: int = MAX_BODY, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """Decode a JSON object from ``body`` or raise TooLarge / MalformedInput."""
    if len(body) > max_bytes:
        raise TooLarge(f"body of {len(body)} bytes is over the limit of {max_bytes}")
    try:
        value = json.loads(body)
    except RecursionError:
        raise TooLarge(f"JSON nested deeper than {max_depth} levels") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedInput(f"body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise MalformedInput("body must be a JSON object")
    if not _shape_ok(value, max_depth, MAX_VALUES):
        raise TooLarge(f"JSON nested deeper than {max_depth} levels or holding over {MAX_VALUES} values")
    return value
