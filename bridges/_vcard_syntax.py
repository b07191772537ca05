"""vCard content lines: unfolding, property parsing, value escaping and folding (RFC 6350 §3, RFC 2426, vCard
2.1).

Rules kept:
- A physical line starting with a space or tab continues the previous one (CRLF, LF or CR line ends).
- vCard 2.1/3.0 quoted-printable values continue after a trailing ``=`` (soft line break) and are decoded in
  their CHARSET (UTF-8 by default).
- ``group.NAME;param=a,b;"quoted":value``: names and parameter names are case-insensitive; 2.1 bare parameters
  (``TEL;CELL:``) are TYPE values.
- Text values unescape ``\\n``, ``\\,``, ``\\;`` and ``\\\\``; structured values split on unescaped ``;``.
- Writing folds at 75 octets without splitting a UTF-8 character.
"""

from __future__ import annotations

import quopri
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from bridges._clean import scrub_text
from bridges._files import bounded_lines

__all__ = [
    "Prop",
    "escape",
    "fold",
    "logical_lines",
    "parse_prop",
    "split_unescaped",
    "unescape",
]


@dataclass(kw_only=True, slots=True)
class Prop:
    name: str  # upper case
    value: str  # raw, still escaped (quoted-printable already decoded)
    group: str = ""  # lower case ("item1")
    params: dict[str, list[str]] = field(default_factory=dict)  # upper-case names, values as written

    def types(self) -> list[str]:
        return [t.lower() for v in self.params.get("TYPE", []) for t in v.split(",") if t]

    def param(self, name: str) -> str | None:
        values = self.params.get(name.upper())
        return values[0] if values else None


def logical_lines(fh: IO[str], max_line: int) -> Iterator[tuple[int, str]]:
    """Unfolded lines with the physical line each starts on. Over-long lines are cut to ``max_line`` + 1 chars
    so the caller can see and report them without holding more.

    Linear in the input: whether a logical line is quoted-printable is decided once, from its first physical
    line, never by looking at the whole line again for each continuation (an 8 MB line followed by 2,000
    folded ones took minutes that way)."""
    current: list[str] = []
    size = 0
    start = 0
    qp = False  # the current logical line's parameters say ENCODING=QUOTED-PRINTABLE
    qp_soft = False
    for number, raw in enumerate(bounded_lines(fh, max_line), start=1):
        line = raw.rstrip("\r\n")
        if current and (line[:1] in (" ", "\t") or qp_soft):
            piece = line if qp_soft else line[1:]
            if size <= max_line:
                current.append(piece)
                size += len(piece)
        else:
            if current:
                yield start, "".join(current)
            current, size, start = [line], len(line), number
            colon = line.find(":")
            qp = "QUOTED-PRINTABLE" in (line[:colon] if colon >= 0 else line).upper()
        qp_soft = qp and line.endswith("=")
        if qp_soft:
            current[-1] = current[-1][:-1] + "=\n"  # mark the soft break for the decoder
    if current:
        yield start, "".join(current)


def _split_params(text: str) -> list[str]:
    if '"' not in text:
        return text.split(";")
    out: list[str] = []
    buf: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif ch == ";" and not quoted:
            out.append("".join(buf))
            buf = []
            continue
        buf.append(ch)
    out.append("".join(buf))
    return out


def _value_colon(line: str) -> int:
    """The first ``:`` outside double quotes, or -1. Found with ``str.find`` from quote to quote: a line is
    scanned once, at C speed (a character loop took a second per 8 MB line without a colon)."""
    colon = line.find(":")
    pos = 0
    while True:
        quote = line.find('"', pos)
        if quote == -1 or (colon != -1 and colon < quote):
            return colon
        close = line.find('"', quote + 1)
        if close == -1:
            return -1  # an unclosed quote runs to the end of the line
        pos = close + 1
        if colon != -1 and colon < pos:  # that colon was quoted: the next one after the quotes
            colon = line.find(":", pos)


def parse_prop(line: str) -> Prop | None:
    """One content line; None when it has no ``:`` (not a property)."""
    colon = _value_colon(line)
    if colon <= 0:
        return None
    head, value = line[:colon], line[colon + 1 :]
    parts = _split_params(head)
    name = parts[0].strip()
    group = ""
    if "." in name:
        group, name = name.rsplit(".", 1)
    params: dict[str, list[str]] = {}
    for p in parts[1:]:
        if "=" in p:
            k, v = p.split("=", 1)
            params.setdefault(k.strip().upper(), []).extend(x.strip().strip('"') for x in v.split(","))
        elif p.strip():
            params.setdefault("TYPE", []).append(p.strip())  # vCard 2.1 bare parameter
    enc = (params.get("ENCODING") or [""])[0].upper()
    if enc == "QUOTED-PRINTABLE":
        charset = (params.get("CHARSET") or ["utf-8"])[0]
        raw = quopri.decodestring(value.replace("=\n", "=\r\n").encode("latin-1", "replace"))
        value = _decode(raw, charset)
    return Prop(name=name.upper(), value=value, group=group.lower(), params=params)


def _decode(raw: bytes, charset: str) -> str:
    """Bytes in the CHARSET a card names. The name is the file's, so it may be anything Python knows: a
    codec that is no text encoding (``hex``, ``zlib``: LookupError), one that refuses ``replace`` (``idna``:
    UnicodeError) or one that can make lone surrogates (``utf-7``). The first two fall back to UTF-8; any
    surrogate left is replaced, since no later step could store it."""
    try:
        return scrub_text(raw.decode(charset[:40], "replace"))
    except (LookupError, UnicodeError, ValueError, TypeError):
        return raw.decode("utf-8", "replace")


def unescape(text: str) -> str:
    if "\\" not in text:
        return text
    return _ESCAPED.sub(_unescape_one, text)


def _unescape_one(m: re.Match[str]) -> str:
    ch = m.group(1)
    return "\n" if ch in "nN" else ch


_ESCAPED = re.compile(r"\\(.)", re.S)
_SPLITTERS = {sep: re.compile(r"\\.|" + re.escape(sep), re.S) for sep in ",;"}


def split_unescaped(text: str, sep: str) -> list[str]:
    """Split on ``sep`` not preceded by a backslash; parts stay escaped."""
    if "\\" not in text:
        return text.split(sep)
    parts: list[str] = []
    start = 0
    for m in _SPLITTERS[sep].finditer(text):  # an escape is matched whole, so its character is never a sep
        if m.group() == sep:
            parts.append(text[start : m.start()])
            start = m.end()
    parts.append(text[start:])
    return parts


def escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace(",", "\\,")
        .replace(";", "\\;")
        .replace("\r\n", "\n")
        .replace("\n", "\\n")
    )


def fold(line: str) -> str:
    """RFC 6350 §3.2: lines longer than 75 octets continue on lines starting with one space. Linear: the
    octets are cut by position, never by copying what is left after each cut."""
    data = line.encode("utf-8")
    if len(data) <= 75:
        return line
    chunks: list[bytes] = []
    start, limit = 0, 75
    while start < len(data):
        cut = start + limit
        if cut >= len(data):
            chunks.append(data[start:])
            break
        while cut > start and (data[cut] & 0xC0) == 0x80:  # never split inside a UTF-8 sequence
            cut -= 1
        chunks.append(data[start:cut])
        start, limit = cut, 74  # the leading space counts toward the 75
    return "\r\n ".join(c.decode("utf-8") for c in chunks)
