"""A small, strict Structured Field Values parser and serialiser (RFC 8941), enough for RFC 9421 and RFC 9530.

Rules kept here:
- Dictionaries, inner lists, items and parameters; bare items are integers, decimals, strings, tokens, byte
  sequences and booleans (RFC 8941 §3). Dates and display strings (RFC 9651 additions) are refused.
- Stricter than RFC 8941 in one place, on purpose: a repeated dictionary key or parameter name is an error
  instead of "last one wins", so that two parsers can never disagree on which signature or ``created`` a
  message carries (specs/HTTP-SIGNATURES.md §4.1).
- Serialisation is canonical (RFC 8941 §4.1); RFC 9421 builds ``@signature-params`` from it.
"""

from __future__ import annotations

import base64
import binascii
from typing import NamedTuple, TypeAlias

from protocol.errors import MalformedInput
from protocol.wire import shown

__all__ = [
    "BareItem",
    "InnerList",
    "Item",
    "Member",
    "Params",
    "Token",
    "parse_dictionary",
    "serialize_inner_list",
    "serialize_item",
]


class Token(str):
    """An sf-token, kept apart from an sf-string because the two serialise differently."""

    __slots__ = ()


BareItem: TypeAlias = bool | int | float | str | bytes
Params: TypeAlias = dict[str, BareItem]


# Parse results are immutable tuples rather than frozen dataclasses: building them sits on the signing and
# verification hot path, where a NamedTuple costs a quarter of what a frozen dataclass does.
class Item(NamedTuple):
    value: BareItem
    params: Params


class InnerList(NamedTuple):
    items: tuple[Item, ...]
    params: Params


Member: TypeAlias = Item | InnerList

_KEY_FIRST = frozenset("abcdefghijklmnopqrstuvwxyz*")
_KEY_REST = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-.*")
_TOKEN_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz*")
_TOKEN_REST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~:/")
_B64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


class _Parser:
    __slots__ = ("pos", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> MalformedInput:
        return MalformedInput(f"structured field: {what} at character {self.pos}")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_sp(self) -> None:
        while self.peek() == " ":
            self.pos += 1

    def skip_ows(self) -> None:
        while self.peek() in (" ", "\t") and self.peek():
            self.pos += 1

    def key(self) -> str:
        start = self.pos
        if self.peek() not in _KEY_FIRST or not self.peek():
            raise self.fail("expected a lower-case key")
        self.pos += 1
        while self.peek() and self.peek() in _KEY_REST:
            self.pos += 1
        return self.text[start : self.pos]

    def params(self) -> Params:
        out: Params = {}
        while self.peek() == ";":
            self.pos += 1
            self.skip_sp()
            name = self.key()
            value: BareItem = True
            if self.peek() == "=":
                self.pos += 1
                value = self.bare_item()
            if name in out:
                raise self.fail(f"parameter {shown(name)} repeated")
            out[name] = value
        return out

    def bare_item(self) -> BareItem:
        c = self.peek()
        if c == "-" or (c.isdigit() and c):
            return self.number()
        if c == '"':
            return self.string()
        if c == ":":
            return self.byte_sequence()
        if c == "?":
            self.pos += 1
            b = self.peek()
            if b not in ("0", "1") or not b:
                raise self.fail("boolean must be ?0 or ?1")
            self.pos += 1
            return b == "1"
        if c and c in _TOKEN_FIRST:
            start = self.pos
            self.pos += 1
            while self.peek() and self.peek() in _TOKEN_REST:
                self.pos += 1
            return Token(self.text[start : self.pos])
        raise self.fail("expected an item")

    def number(self) -> int | float:
        start = self.pos
        if self.peek() == "-":
            self.pos += 1
        digits_start = self.pos
        while self.peek().isdigit() and self.peek():
            self.pos += 1
        int_digits = self.pos - digits_start
        if int_digits == 0:
            raise self.fail("expected digits")
        if self.peek() == ".":
            if int_digits > 12:
                raise self.fail("decimal with more than 12 integer digits")
            self.pos += 1
            frac_start = self.pos
            while self.peek().isdigit() and self.peek():
                self.pos += 1
            if not 1 <= self.pos - frac_start <= 3:
                raise self.fail("decimal needs 1 to 3 fractional digits")
            return float(self.text[start : self.pos])
        if int_digits > 15:
            raise self.fail("integer with more than 15 digits")
        return int(self.text[start : self.pos])

    def string(self) -> str:
        self.pos += 1
        out: list[str] = []
        while True:
            c = self.peek()
            if not c:
                raise self.fail("unterminated string")
            self.pos += 1
            if c == '"':
                return "".join(out)
            if c == "\\":
                n = self.peek()
                if n not in ('"', "\\") or not n:
                    raise self.fail('only \\" and \\\\ may be escaped in a string')
                self.pos += 1
                out.append(n)
            elif " " <= c <= "~":
                out.append(c)
            else:
                raise self.fail("string holds a character outside printable ASCII")

    def byte_sequence(self) -> bytes:
        end = self.text.find(":", self.pos + 1)
        if end < 0:
            raise self.fail("unterminated byte sequence")
        raw = self.text[self.pos + 1 : end]
        if not set(raw) <= _B64:
            raise self.fail("byte sequence is not base64")
        self.pos = end + 1
        try:
            return base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise self.fail("byte sequence is not valid base64") from None

    def item_or_inner_list(self) -> Member:
        if self.peek() != "(":
            value = self.bare_item()
            return Item(value=value, params=self.params())
        self.pos += 1
        items: list[Item] = []
        while True:
            self.skip_sp()
            if self.peek() == ")":
                self.pos += 1
                return InnerList(items=tuple(items), params=self.params())
            value = self.bare_item()
            items.append(Item(value=value, params=self.params()))
            if self.peek() not in (" ", ")") or not self.peek():
                raise self.fail("inner list items are separated by spaces")

    def dictionary(self) -> dict[str, Member]:
        out: dict[str, Member] = {}
        self.skip_sp()
        while self.pos < len(self.text):
            name = self.key()
            if self.peek() == "=":
                self.pos += 1
                member = self.item_or_inner_list()
            else:
                member = Item(value=True, params=self.params())
            if name in out:
                raise self.fail(f"dictionary key {shown(name)} repeated")
            out[name] = member
            self.skip_ows()
            if self.pos >= len(self.text):
                return out
            if self.peek() != ",":
                raise self.fail("dictionary members are separated by commas")
            self.pos += 1
            self.skip_ows()
            if self.pos >= len(self.text):
                raise self.fail("trailing comma")
        return out


def parse_dictionary(value: str) -> dict[str, Member]:
    """Parse a Dictionary field value (RFC 8941 §4.2.2), refusing repeated keys and parameters."""
    if not value.isascii():
        raise MalformedInput("structured field contains non-ASCII characters")
    return _Parser(value.strip(" ")).dictionary()


def serialize_item(value: BareItem) -> str:
    """One bare item in canonical form (RFC 8941 §4.1.3)."""
    if type(value) is str:  # the common case (component names, keyid), tested first on purpose
        if not (value.isascii() and value.isprintable()):
            raise MalformedInput(f"cannot serialise {value[:40]!r} as an sf-string: printable ASCII only")
        if "\\" in value or '"' in value:
            value = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{value}"'
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, Token):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = f"{value:.3f}".rstrip("0")
        return text + "0" if text.endswith(".") else text
    if isinstance(value, bytes):
        return ":" + base64.b64encode(value).decode() + ":"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _serialize_params(params: Params) -> str:
    if not params:
        return ""
    return "".join(f";{k}" if v is True else f";{k}={serialize_item(v)}" for k, v in params.items())


def serialize_inner_list(inner: InnerList) -> str:
    """An inner list with its parameters, e.g. ``("@method" "@path");created=1;keyid="k"``."""
    items = " ".join(serialize_item(i.value) + _serialize_params(i.params) for i in inner.items)
    return f"({items}){_serialize_params(inner.params)}"
