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
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

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
    so the caller can see and report them without holding more."""
    current: list[str] = []
    size = 0
    start = 0
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
        head = current[0].split(":", 1)[0].upper()
        qp_soft = "QUOTED-PRINTABLE" in head and line.endswith("=")
        if qp_soft and current:
            current[-1] = current[-1][:-1] + "=\n"  # mark the soft break for the decoder
    if current:
        yield start, "".join(current)


def _split_params(text: str) -> list[str]:
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


def parse_prop(line: str) -> Prop | None:
    """One content line; None when it has no ``:`` (not a property)."""
    quoted = False
    colon = -1
    for i, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        elif ch == ":" and not quoted:
            colon = i
            break
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
        try:
            value = raw.decode(charset, "replace")
        except LookupError:
            value = raw.decode("utf-8", "replace")
    return Prop(name=name.upper(), value=value, group=group.lower(), params=params)


def unescape(text: str) -> str:
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append("\n" if nxt in "nN" else nxt)
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def split_unescaped(text: str, sep: str) -> list[str]:
    """Split on ``sep`` not preceded by a backslash; parts stay escaped."""
    parts: list[str] = []
    buf: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            buf.append(text[i : i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    parts.append("".join(buf))
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
    """RFC 6350 §3.2: lines longer than 75 octets continue on lines starting with one space."""
    data = line.encode("utf-8")
    if len(data) <= 75:
        return line
    chunks: list[bytes] = []
    limit = 75
    while data:
        if len(data) <= limit:
            chunks.append(data)
            break
        cut = limit
        while cut > 0 and (data[cut] & 0xC0) == 0x80:  # never split inside a UTF-8 sequence
            cut -= 1
        chunks.append(data[:cut])
        data = data[cut:]
        limit = 74  # the leading space counts toward the 75
    return "\r\n ".join(c.decode("utf-8") for c in chunks)
