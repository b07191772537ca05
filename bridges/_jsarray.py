"""Streaming reader for ``window.YTD.<key>.partN = [ ... ]`` files: one array element at a time.

An X archive's files are a JavaScript assignment around a JSON array. Parsers strip everything before the
first ``[`` (docs/SILOS.md §1); we then decode element by element with ``raw_decode`` over a sliding buffer, so
a 50 MB ``tweets.js`` never becomes one list of dicts. Each element comes with the line it starts on, for
reports.

Hostile elements end the file's reading with MalformedElement, never a Python error: nesting deeper than the
decoder's stack (RecursionError), integers longer than Python converts (ValueError). Lone surrogates are
replaced (bridges/_clean.py) so that the text can be stored. Reading is linear in the file: separators are
skipped by a regular expression, and an element that may continue past the buffer (a number or a literal at
its end) is decoded again only after the buffer has doubled, never after each chunk.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import IO, Any

from bridges._clean import has_surrogate_escape, scrub
from bridges.base import ExportError

__all__ = ["MalformedElement", "iter_js_array"]

_CHUNK = 1 << 16
_SEPARATORS = re.compile(r"[ \t\r\n,]*")


class MalformedElement(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def iter_js_array(
    fh: IO[str], shown: str, *, max_element: int = 64 << 20, max_preamble: int = 4096
) -> Iterator[tuple[int, Any]]:
    """Elements of the first top-level array in ``fh``; raises MalformedElement at the first broken one."""
    decoder = json.JSONDecoder()
    buf = ""
    while "[" not in buf:
        chunk = fh.read(_CHUNK)
        if not chunk:
            raise ExportError(f"{shown}: no JSON array found; is this a file from an X archive?")
        buf += chunk
        if len(buf) > max_preamble and "[" not in buf[:max_preamble]:
            raise ExportError(f"{shown}: no JSON array near the start; is this a file from an X archive?")
    start = buf.index("[")
    line = 1 + buf.count("\n", 0, start)
    pos = start + 1
    eof = False

    def more(want: int) -> bool:
        nonlocal buf, pos, eof
        if eof:
            return False
        chunk = fh.read(max(_CHUNK, want))
        if not chunk:
            eof = True
            return False
        buf = buf[pos:] + chunk
        pos = 0
        return True

    while True:
        # skip separators, counting lines
        while True:
            skipped = _SEPARATORS.match(buf, pos).end()  # type: ignore[union-attr]  # * always matches
            line += buf.count("\n", pos, skipped)
            pos = skipped
            if pos < len(buf) or not more(_CHUNK):
                break
        if pos >= len(buf):
            raise MalformedElement(line, "the array is not closed (file cut short?)")
        if buf[pos] == "]":
            return
        while True:
            try:
                obj, end = decoder.raw_decode(buf, pos)
            except RecursionError:
                # Depth does not change with more text: the element is refused as it stands.
                raise MalformedElement(line, "an element nested too deeply to read") from None
            except json.JSONDecodeError as exc:
                if len(buf) - pos > max_element:
                    raise MalformedElement(line, f"an element larger than {max_element} bytes") from exc
                if more(len(buf) - pos):
                    continue
                raise MalformedElement(line, f"malformed JSON: {exc.msg}") from exc
            except ValueError as exc:  # not JSON's own: an integer of more digits than Python converts
                raise MalformedElement(line, f"an unreadable value ({exc})") from None
            if end == len(buf):  # a bare number or literal might continue past the buffer
                if len(buf) - pos > max_element:
                    raise MalformedElement(line, f"an element larger than {max_element} bytes")
                if more(len(buf) - pos):
                    continue
            break
        if buf.find("\\u", pos, end) >= 0 and has_surrogate_escape(buf, pos, end):  # find: the cheap test
            obj = scrub(obj)
        yield line, obj
        line += buf.count("\n", pos, end)
        pos = end
