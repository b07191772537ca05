"""Streaming reader for ``window.YTD.<key>.partN = [ ... ]`` files: one array element at a time.

An X archive's files are a JavaScript assignment around a JSON array. Parsers strip everything before the
first ``[`` (docs/SILOS.md §1); we then decode element by element with ``raw_decode`` over a sliding buffer, so
a 50 MB ``tweets.js`` never becomes one list of dicts. Each element comes with the line it starts on, for
reports.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

from bridges.base import ExportError

__all__ = ["MalformedElement", "iter_js_array"]

_CHUNK = 1 << 16
_WS = " \t\r\n,"


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
            while pos < len(buf) and buf[pos] in _WS:
                if buf[pos] == "\n":
                    line += 1
                pos += 1
            if pos < len(buf) or not more(_CHUNK):
                break
        if pos >= len(buf):
            raise MalformedElement(line, "the array is not closed (file cut short?)")
        if buf[pos] == "]":
            return
        while True:
            try:
                obj, end = decoder.raw_decode(buf, pos)
            except json.JSONDecodeError as exc:
                if len(buf) - pos > max_element:
                    raise MalformedElement(line, f"an element larger than {max_element} bytes") from exc
                if more(len(buf) - pos):
                    continue
                raise MalformedElement(line, f"malformed JSON: {exc.msg}") from exc
            if end == len(buf) and more(_CHUNK):
                continue  # a bare number or literal might continue in the next chunk
            break
        yield line, obj
        line += buf.count("\n", pos, end)
        pos = end
