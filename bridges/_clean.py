"""Text from hostile files made safe to store and to show.

- Lone surrogates: JSON may escape half a UTF-16 pair (``"\\ud83d"``, the first half of an emoji cut by a
  silo's truncation), and Python's decoder keeps it as a code point no UTF-8 encoder accepts, so the import
  would fail when it stores the text. Each one becomes U+FFFD, the replacement character. Checking every
  string of every element would cost a parse's worth of time, so callers look for a surrogate escape in the
  raw JSON text first (``has_surrogate_escape``) and scrub only what may hold one.
- Control characters in what is shown to the owner (error messages, skipped rows, which quote member names,
  record keys and silos' own error text): a terminal obeys escape sequences, so ``printable`` replaces every
  character that is not printable with U+FFFD.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["has_surrogate_escape", "printable", "scrub", "scrub_text"]

_SURROGATE = re.compile("[\ud800-\udfff]")
# JSON writes \u in lower case; the hex digits may be either. Python's json joins a valid pair into one
# code point, so what is left after decoding is unpaired.
_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")


def has_surrogate_escape(text: str | bytes, start: int = 0, end: int | None = None) -> bool:
    """True when ``text[start:end]`` (raw JSON) may decode to a surrogate."""
    stop = len(text) if end is None else end
    if isinstance(text, bytes):
        return _ESCAPE_BYTES.search(text, start, stop) is not None
    return _ESCAPE.search(text, start, stop) is not None


def scrub_text(text: str) -> str:
    return _SURROGATE.sub("\ufffd", text)


def printable(text: str) -> str:
    """``text`` with every character that is not printable (controls, escapes, surrogates) as U+FFFD."""
    return text if text.isprintable() else "".join(ch if ch.isprintable() else "\ufffd" for ch in text)


def scrub(value: Any) -> Any:
    """``value`` (decoded JSON) with every lone surrogate in its strings and keys replaced. Iterative: the
    value may be nested as deeply as the decoder allowed, which is as deep as Python's own stack."""
    if isinstance(value, str):
        return scrub_text(value)
    if not isinstance(value, dict | list):
        return value
    stack: list[dict[str, Any] | list[Any]] = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            for i, item in enumerate(node):
                if isinstance(item, str):
                    node[i] = scrub_text(item)
                elif isinstance(item, dict | list):
                    stack.append(item)
        else:
            for key in list(node):
                item = node[key]
                if isinstance(item, str):
                    item = scrub_text(item)
                elif isinstance(item, dict | list):
                    stack.append(item)
                clean = scrub_text(key)
                if clean != key:
                    del node[key]
                node[clean] = item
    return value
